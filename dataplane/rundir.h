/* SPDX-License-Identifier: BSD-3-Clause */
/* The EAL runtime directory of a run that chose its own --file-prefix, removed at its end. */
#ifndef DP_RUNDIR_H
#define DP_RUNDIR_H

#include <stddef.h>

/*
 * EAL leaves its runtime directory (config, fbarray files, sockets) behind.
 * A run that chose its own prefix removes it, so analysing many captures or
 * running many benchmarks does not fill /var/run/dpdk. Only plain files one
 * level deep; the directory itself last.
 */
void dp_rundir_remove(const char *dir);

/*
 * Where EAL puts the runtime directory of --file-prefix prefix (the rule of
 * eal_create_runtime_dir(): /var/run/dpdk as root, else under XDG_RUNTIME_DIR
 * or /tmp), into buf of len bytes: known before EAL starts, so a failed or
 * interrupted start can remove it too.
 */
void dp_rundir_path(char *buf, size_t len, const char *prefix);

#endif /* DP_RUNDIR_H */
