/*
 * scaffold.h - `tarry new NAME [DIR]`: write a ready-to-build plugin
 * skeleton for a plugin author to start from.
 *
 * The files come from the templates in sdk/templates/plugin/ (embedded in
 * the binary at build time), with @NAME@ replaced by NAME: NAME.c (a
 * function and a workflow), test_NAME.c (tests with the test kit),
 * CMakeLists.txt (find_package(tarry), tarry_add_plugin), README.md and
 * .gitignore. Works offline and touches nothing but DIR: no host is needed.
 */
#ifndef TARRY_SCAFFOLD_H
#define TARRY_SCAFFOLD_H

#include <stdio.h>

/*
 * Run `tarry new`. argv holds the words after the program name (argv[0] is
 * "new"), borrowed for the call. NAME must match [A-Za-z_][A-Za-z0-9_]* (at
 * most 64 bytes, not a name CMake reserves); DIR defaults to ./NAME and is
 * created if missing. Refuses, writing nothing, when any file it would
 * write already exists. Returns the exit status: 0 done, 1 a file exists or
 * could not be written (the reason on stderr), 2 bad command line.
 */
int scaffold_main(int argc, char **argv);

/* One line for `tarry --help`, in cli_usage()'s format. */
void scaffold_usage(FILE *out);

#endif
