// SPDX-License-Identifier: GPL-2.0
/*
 * A 32-bit (i386) client of /dev/xen_mcelog, built -m32 -static, so the
 * sandbox can check the compat_ioctl path a 32-bit mcelog would take:
 * prints record_len=N log_len=N flags=N (or NAME=err:ERRNO), xen_mcelog's
 * XMC_GET_STATS as stats_version=N stats_size=N stats_pushed=N stats_popped=N
 * (or stats=err:ERRNO), XMC_PAGE_OWNER for domain 1 and frame 0x1000 as
 * owner_rc=XEN_RC owner_back=ok|bad (the question came back unchanged) and
 * for dom0 as owner_dom0=err:ERRNO, and the result of one mcelog-style read
 * (RECORD_LEN x LOG_LEN bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MCE_GET_RECORD_LEN _IOR('M', 1, int)
#define MCE_GET_LOG_LEN _IOR('M', 2, int)
#define MCE_GETCLEAR_FLAGS _IOR('M', 3, int)

/*
 * xen_mcelog's counters as version 1 had them (chardev/stats.rs; kept at
 * version 1 on purpose: the module answers an older caller's size, and
 * reports it in `size`): a version, the bytes
 * filled in, then 24 little-endian u64s (ring_pushed is the third,
 * ring_popped the fourth). No pointer, no long, no padding: the same 200
 * bytes and the same command for 32-bit callers (i386 aligns a u64 in a
 * struct to 4 bytes, which changes nothing here).
 */
struct xmc_stats {
	unsigned int version;
	unsigned int size;
	unsigned long long counters[24];
};
#define XMC_GET_STATS _IOR('x', 2, struct xmc_stats)
_Static_assert(sizeof(struct xmc_stats) == 200, "struct xmc_stats is 200 bytes");
_Static_assert(XMC_GET_STATS == 0x80c87802u, "version 1's XMC_GET_STATS (chardev/stats.rs)");

/*
 * xen_mcelog's XMC_PAGE_OWNER (chardev/owner.rs): 16 bytes, no pointer and
 * no long, so 32-bit callers use the same command and layout.
 */
struct xmc_page_owner {
	unsigned long long mfn;
	unsigned short domid;
	unsigned short flags;
	int xen_rc;
};
#define XMC_PAGE_OWNER _IOWR('x', 3, struct xmc_page_owner)
_Static_assert(sizeof(struct xmc_page_owner) == 16, "struct xmc_page_owner is 16 bytes");
_Static_assert(XMC_PAGE_OWNER == 0xc0107803u, "XMC_PAGE_OWNER (chardev/owner.rs)");

static int get(int fd, unsigned long cmd, const char *name, int *v)
{
	if (ioctl(fd, cmd, v) < 0) {
		printf("%s=err:%d ", name, errno);
		return -1;
	}
	printf("%s=%d ", name, *v);
	return 0;
}

int main(int argc, char **argv)
{
	int fd, rl = 0, ll = 0, fl = 0;
	struct xmc_stats st;
	char *buf;
	ssize_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: xmc-ioctl32 DEV\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		printf("open=err:%d\n", errno);
		return 1;
	}
	printf("bits=%d ", (int)(8 * sizeof(long)));
	if (get(fd, MCE_GET_RECORD_LEN, "record_len", &rl) || get(fd, MCE_GET_LOG_LEN, "log_len", &ll) ||
	    get(fd, MCE_GETCLEAR_FLAGS, "flags", &fl)) {
		printf("\n");
		return 1;
	}
	if (ioctl(fd, XMC_GET_STATS, &st) < 0)
		printf("stats=err:%d ", errno);
	else
		printf("stats_version=%u stats_size=%u stats_pushed=%llu stats_popped=%llu ",
		       st.version, st.size, st.counters[2], st.counters[3]);
	{
		struct xmc_page_owner q = { .mfn = 0x1000, .domid = 1, .xen_rc = 12345 };

		if (ioctl(fd, XMC_PAGE_OWNER, &q) < 0)
			printf("owner=err:%d ", errno);
		else
			printf("owner_rc=%d owner_back=%s ", q.xen_rc,
			       q.mfn == 0x1000 && q.domid == 1 && !q.flags ? "ok" : "bad");
		q.domid = 0;
		if (ioctl(fd, XMC_PAGE_OWNER, &q) < 0)
			printf("owner_dom0=err:%d ", errno);
		else
			printf("owner_dom0=%d ", q.xen_rc);
	}
	buf = malloc((size_t)rl * ll);
	n = read(fd, buf, (size_t)rl * ll);
	printf("read=%zd\n", n);
	return 0;
}
