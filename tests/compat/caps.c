/* compat: restore */
/*
 * caps.c - the five capability sets and securebits come back: a root
 * process keeps some capabilities across a change to uid 1000
 * (SECBIT_KEEP_CAPS), drops three from its bounding set, has an
 * inheritable set, an ambient capability, and locks securebits that forbid
 * raising ambient capabilities again (so a restore must raise the ambient
 * set before it sets securebits).
 */
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

#define BIT(c) (1ull << (c))
#define WANT_PRM (BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE))
#define WANT_EFF BIT(CAP_KILL)
#define WANT_INH (BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE))
#define WANT_AMB BIT(CAP_NET_BIND_SERVICE)
#define DROPPED (BIT(CAP_SYS_BOOT) | BIT(CAP_NET_RAW) | BIT(CAP_SYS_MODULE))
#define WANT_BITS                                                                                  \
	(SECBIT_KEEP_CAPS | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |  \
	 SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

static int last_cap;
static uint64_t want_bnd; /* what the bounding set was, without DROPPED */

static int get_caps(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &hdr, d))
		return -1;
	*eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	*prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	*inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	return 0;
}

static int set_caps(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};

	return (int)syscall(SYS_capset, &hdr, d);
}

static int setup(void)
{
	uint64_t eff, prm, inh;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	int c;

	if (!f || fscanf(f, "%d", &last_cap) != 1) {
		perror("cap_last_cap");
		return -1;
	}
	fclose(f);
	if (get_caps(&eff, &prm, &inh) || (prm & (WANT_PRM | BIT(CAP_SETPCAP) | BIT(CAP_SETUID))) !=
						  (WANT_PRM | BIT(CAP_SETPCAP) | BIT(CAP_SETUID))) {
		printf("SKIP: needs root with CAP_SETPCAP, CAP_SETUID, CAP_KILL and "
		       "CAP_NET_BIND_SERVICE\n");
		exit(77);
	}
	for (c = 0; c <= last_cap; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 && !(DROPPED & BIT(c)))
			want_bnd |= BIT(c);
		if (DROPPED & BIT(c) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0)) {
			perror("PR_CAPBSET_DROP");
			return -1;
		}
	}
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0,
		  0) ||
	    set_caps(eff, prm, WANT_INH) || setresuid(1000, 1000, 1000)) {
		perror("keeping capabilities across setresuid");
		return -1;
	}
	/* the uid change cleared the effective set; take back what the rest needs */
	if (set_caps(BIT(CAP_SETPCAP) | WANT_PRM, BIT(CAP_SETPCAP) | WANT_PRM, WANT_INH) ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) ||
	    prctl(PR_SET_SECUREBITS, WANT_BITS, 0, 0, 0) || set_caps(WANT_EFF, WANT_PRM, WANT_INH)) {
		perror("setting the final capabilities");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	uint64_t eff, prm, inh, bnd = 0, amb = 0;
	uid_t r, e, s;
	int c, bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);

	if (get_caps(&eff, &prm, &inh))
		return FAILED("capget: %s", strerror(errno));
	for (c = 0; c <= last_cap; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			bnd |= BIT(c);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			amb |= BIT(c);
	}
	if (eff != WANT_EFF || prm != WANT_PRM || inh != WANT_INH)
		return FAILED("eff/prm/inh are 0x%llx/0x%llx/0x%llx, want 0x%llx/0x%llx/0x%llx",
			      (unsigned long long)eff, (unsigned long long)prm,
			      (unsigned long long)inh, (unsigned long long)WANT_EFF,
			      (unsigned long long)WANT_PRM, (unsigned long long)WANT_INH);
	if (bnd != want_bnd)
		return FAILED("bounding set is 0x%llx, want 0x%llx", (unsigned long long)bnd,
			      (unsigned long long)want_bnd);
	if (amb != WANT_AMB)
		return FAILED("ambient set is 0x%llx, want 0x%llx", (unsigned long long)amb,
			      (unsigned long long)WANT_AMB);
	if (bits != WANT_BITS)
		return FAILED("securebits are 0x%x, want 0x%x", bits, WANT_BITS);
	if (getresuid(&r, &e, &s) || r != 1000 || e != 1000 || s != 1000)
		return FAILED("uids are %u/%u/%u, want 1000", r, e, s);
	return 0;
}
