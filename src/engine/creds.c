/*
 * creds.c - what a process may do: its resource limits as the restore
 * checks them against thaw's own privileges.
 *
 * A restored process sets its limits itself, in the restorer, while it still
 * has thaw's privileges.  Lowering a limit is always allowed; raising a hard
 * limit above thaw's own needs CAP_SYS_RESOURCE, which root lacks in many
 * containers.  Such a snapshot is refused before anything is created, with
 * the limit named, rather than coming back with a limit that differs.
 */
#define LOG_TAG "creds"
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine-internal.h"

bool creds_have_cap(int cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (cap < 0 || cap > 63 || syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

static const char *limit_str(uint64_t v, char *buf, size_t len)
{
	if (v == RLIM_INFINITY)
		return "unlimited";
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

int creds_check_rlimits(const struct image *img)
{
	bool can_raise = creds_have_cap(CAP_SYS_RESOURCE);
	char want[24], have[24];
	int r;

	for (r = 0; r < IMAGE_NR_RLIMITS; r++) {
		uint64_t max = img->proc.rlimits[r].max;
		struct rlimit own;

		if (getrlimit((__rlimit_resource_t)r, &own) < 0)
			return log_errno("reading our own rlimit %s", image_rlimit_name((uint32_t)r));
		if (max <= own.rlim_max || can_raise)
			continue;
		log_error("snapshot %s: pid %d: its hard limit of %s (%s) is above thaw restore's "
			  "own (%s), and raising it needs CAP_SYS_RESOURCE",
			  img->path, img->proc.pid, image_rlimit_name((uint32_t)r),
			  limit_str(max, want, sizeof(want)),
			  limit_str(own.rlim_max, have, sizeof(have)));
		return -EPERM;
	}
	return 0;
}
