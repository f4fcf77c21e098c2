/*
 * plugin_share.h - plugin versions shared through the store: the hooks the
 * plugins registry calls (plugins.h's plugins_hooks), over store.h's
 * store_plugin_put and store_plugin_get.
 *
 * Every version a host loads from its plugins folder is kept in the store
 * before it serves (on PostgreSQL, the .so bytes in plugin_versions); a
 * host asked to run an execution pinned to a version its version store
 * lacks (another host started it, or this host's folder changed since)
 * fetches the bytes from there. On LMDB the store keeps nothing and the
 * data folder's version store is the only one, as before.
 *
 * Threads: the hooks run where the registry loads (a reload's worker, an
 * upgrade's worker, the loop before it serves) and block on the store.
 * May not: load or call plugin code (the registry does), or write anything
 * but plugin versions' bytes.
 */
#ifndef TARRY_PLUGIN_SHARE_H
#define TARRY_PLUGIN_SHARE_H

#include "plugins.h"
#include "store.h"

/* The hooks for a registry on store `st`, which must outlive the registry. */
plugins_hooks plugin_share_hooks(store *st);

#endif
