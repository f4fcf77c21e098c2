/*
 * serve.h - `tarry serve`: a supervisor process that runs the engine in a
 * child process and restarts it when plugin code crashes it.
 */
#ifndef TARRY_SERVE_H
#define TARRY_SERVE_H

/* argv[0] is "serve". Returns the process exit status. */
int serve_main(int argc, char **argv);

#endif
