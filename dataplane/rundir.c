/* SPDX-License-Identifier: BSD-3-Clause */
/* The EAL runtime directory of a run that chose its own --file-prefix, removed at its end. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rundir.h"

void
dp_rundir_path(char *buf, size_t len, const char *prefix)
{
	const char *base = getuid() == 0 ? "/var/run" : getenv("XDG_RUNTIME_DIR");

	snprintf(buf, len, "%s/dpdk/%s", base != NULL ? base : "/tmp", prefix);
}

void
dp_rundir_remove(const char *dir)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
