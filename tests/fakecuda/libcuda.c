/*
 * libcuda.c - a fake libcuda.so.1 for testing libthaw's GPU weights region
 * where there is no GPU (tests/programs/sdk-gpu-weights.c,
 * tests/integration/61-gpu-weights-sdk.sh).  It implements the driver calls
 * sdk/c/gpu-weights.c makes, with host memory standing in for device memory:
 *
 * - an address reservation is a PROT_NONE mapping, so a copy from or to an
 *   address with nothing mapped faults, as on a GPU;
 * - physical memory is a memfd, filled with 0xA5 when created (so a byte
 *   the load does not copy back shows), mapped MAP_FIXED over the
 *   reservation by cuMemMap and made accessible by cuMemSetAccess;
 *   cuMemUnmap puts PROT_NONE back;
 * - copies are memcpy; host registrations must be page-aligned and may not
 *   overlap (checked, a failure is CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
 * - FAKE_CUDA_FREE_MB bounds the physical memory (cuMemGetInfo's free, and
 *   cuMemCreate fails with out of memory beyond it).
 *
 * Every misuse is a message on stderr and an error, and FAKE_CUDA_LOG=1
 * logs each call.  Not the real driver's semantics beyond what libthaw uses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef unsigned long long CUhandle;

#define OK 0
#define ERR_INVALID_VALUE 1
#define ERR_OUT_OF_MEMORY 2
#define ERR_ALREADY_REGISTERED 712
#define ERR_NOT_REGISTERED 713
#define GRANULE (2ull << 20)
#define MAX_HANDLES 4096
#define MAX_REGS 256

struct handle {
	int fd; /* -1: free slot */
	size_t size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle handles[MAX_HANDLES];
static struct {
	char *p;
	size_t len;
} regs[MAX_REGS];
static size_t used; /* physical bytes */
static int ctx_token = 1;

#define EXPORT __attribute__((visibility("default")))

static CUresult misuse(CUresult rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static CUresult misuse(CUresult rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fake libcuda: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	return rc;
}

static void trace(const char *what, unsigned long long a, unsigned long long b)
{
	if (getenv("FAKE_CUDA_LOG"))
		fprintf(stderr, "fake libcuda: %s 0x%llx 0x%llx\n", what, a, b);
}

static size_t limit(void)
{
	const char *s = getenv("FAKE_CUDA_FREE_MB");

	return s ? strtoull(s, NULL, 10) << 20 : 64ull << 30;
}

EXPORT CUresult cuInit(unsigned flags)
{
	(void)flags;
	return OK;
}

EXPORT CUresult cuGetErrorString(CUresult rc, const char **s)
{
	*s = rc == ERR_OUT_OF_MEMORY ? "out of memory (fake)" : "fake CUDA error";
	return OK;
}

EXPORT CUresult cuDeviceGet(int *dev, int ordinal)
{
	if (ordinal != 0)
		return misuse(ERR_INVALID_VALUE, "device %d: the fake has device 0 only", ordinal);
	*dev = 0;
	return OK;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev)
{
	(void)dev;
	*ctx = &ctx_token;
	return OK;
}

static __thread void *current;

EXPORT CUresult cuCtxGetCurrent(void **ctx)
{
	*ctx = current;
	return OK;
}

EXPORT CUresult cuCtxSetCurrent(void *ctx)
{
	current = ctx;
	return OK;
}

EXPORT CUresult cuCtxSynchronize(void)
{
	if (!current)
		return misuse(ERR_INVALID_VALUE, "cuCtxSynchronize without a current context");
	return OK;
}

EXPORT CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
	if (!current)
		return misuse(ERR_INVALID_VALUE, "cuMemGetInfo without a current context");
	pthread_mutex_lock(&lock);
	*free_b = limit() > used ? limit() - used : 0;
	*total = limit();
	pthread_mutex_unlock(&lock);
	return OK;
}

EXPORT CUresult cuMemGetAllocationGranularity(size_t *g, const void *prop, int option)
{
	(void)prop;
	(void)option;
	*g = GRANULE;
	return OK;
}

EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t align, CUdeviceptr addr,
				    unsigned long long flags)
{
	void *p;

	(void)addr;
	(void)flags;
	if (!size || size % GRANULE || (align && align % GRANULE))
		return misuse(ERR_INVALID_VALUE, "reserve of %zu bytes, alignment %zu", size, align);
	p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return ERR_OUT_OF_MEMORY;
	*ptr = (CUdeviceptr)(uintptr_t)p;
	trace("reserve", *ptr, size);
	return OK;
}

EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	trace("unreserve", ptr, size);
	return munmap((void *)(uintptr_t)ptr, size) ? ERR_INVALID_VALUE : OK;
}

EXPORT CUresult cuMemCreate(CUhandle *h, size_t size, const void *prop, unsigned long long flags)
{
	int i, fd;
	void *p;

	(void)prop;
	(void)flags;
	if (!size || size % GRANULE)
		return misuse(ERR_INVALID_VALUE, "cuMemCreate of %zu bytes", size);
	pthread_mutex_lock(&lock);
	if (used + size > limit()) {
		pthread_mutex_unlock(&lock);
		return ERR_OUT_OF_MEMORY;
	}
	for (i = 0; i < MAX_HANDLES && handles[i].size; i++)
		;
	if (i == MAX_HANDLES) {
		pthread_mutex_unlock(&lock);
		return misuse(ERR_OUT_OF_MEMORY, "more than %d handles", MAX_HANDLES);
	}
	fd = memfd_create("fake-device-memory", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		pthread_mutex_unlock(&lock);
		return ERR_OUT_OF_MEMORY;
	}
	p = mmap(NULL, size, PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED) {
		memset(p, 0xA5, size); /* fresh device memory holds no weights */
		munmap(p, size);
	}
	handles[i].fd = fd;
	handles[i].size = size;
	used += size;
	pthread_mutex_unlock(&lock);
	*h = (CUhandle)i + 1;
	trace("create", *h, size);
	return OK;
}

EXPORT CUresult cuMemRelease(CUhandle h)
{
	struct handle *x = h && h <= MAX_HANDLES ? &handles[h - 1] : NULL;

	trace("release", h, 0);
	if (!x || !x->size)
		return misuse(ERR_INVALID_VALUE, "release of handle %llu, not a handle", h);
	pthread_mutex_lock(&lock);
	close(x->fd);
	used -= x->size;
	x->size = 0;
	pthread_mutex_unlock(&lock);
	return OK;
}

EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t off, CUhandle h,
			 unsigned long long flags)
{
	struct handle *x = h && h <= MAX_HANDLES ? &handles[h - 1] : NULL;

	(void)flags;
	trace("map", ptr, size);
	if (!x || !x->size || off || size != x->size)
		return misuse(ERR_INVALID_VALUE, "map of %zu bytes at 0x%llx: bad handle or size",
			      size, ptr);
	if (mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, x->fd, 0) ==
	    MAP_FAILED)
		return misuse(ERR_INVALID_VALUE, "map at 0x%llx: %s", ptr, strerror(errno));
	return OK;
}

EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const void *desc, size_t count)
{
	(void)desc;
	if (count != 1)
		return misuse(ERR_INVALID_VALUE, "set access with %zu descriptors", count);
	return mprotect((void *)(uintptr_t)ptr, size, PROT_READ | PROT_WRITE) ? ERR_INVALID_VALUE
										  : OK;
}

EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	trace("unmap", ptr, size);
	/* the reservation stays: nothing mapped, nothing accessible */
	if (mmap((void *)(uintptr_t)ptr, size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		return ERR_INVALID_VALUE;
	return OK;
}

EXPORT CUresult cuMemHostRegister_v2(void *p, size_t len, unsigned flags)
{
	char *c = p;
	int i, slot = -1;

	(void)flags;
	if ((uintptr_t)p % 4096 || !len)
		return misuse(ERR_INVALID_VALUE, "register of %zu bytes at %p: not page-aligned",
			      len, p);
	pthread_mutex_lock(&lock);
	for (i = 0; i < MAX_REGS; i++) {
		if (!regs[i].len) {
			slot = slot < 0 ? i : slot;
			continue;
		}
		if (c < regs[i].p + regs[i].len && regs[i].p < c + len) {
			pthread_mutex_unlock(&lock);
			return misuse(ERR_ALREADY_REGISTERED, "register at %p overlaps %p", p,
				      regs[i].p);
		}
	}
	if (slot >= 0) {
		regs[slot].p = c;
		regs[slot].len = len;
	}
	pthread_mutex_unlock(&lock);
	return slot >= 0 ? OK : misuse(ERR_OUT_OF_MEMORY, "more than %d registrations", MAX_REGS);
}

EXPORT CUresult cuMemHostUnregister(void *p)
{
	int i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < MAX_REGS && regs[i].p != p; i++)
		;
	if (i < MAX_REGS)
		regs[i].p = NULL, regs[i].len = 0;
	pthread_mutex_unlock(&lock);
	return i < MAX_REGS ? OK : misuse(ERR_NOT_REGISTERED, "unregister of %p", p);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *stream)
{
	if (!stream || !current)
		return misuse(ERR_INVALID_VALUE, "copy without a stream or context");
	memcpy(dst, (void *)(uintptr_t)src, n);
	return OK;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *stream)
{
	if (!stream || !current)
		return misuse(ERR_INVALID_VALUE, "copy without a stream or context");
	memcpy((void *)(uintptr_t)dst, src, n);
	return OK;
}

EXPORT CUresult cuStreamCreate(void **s, unsigned flags)
{
	(void)flags;
	if (!current)
		return misuse(ERR_INVALID_VALUE, "stream without a current context");
	*s = malloc(1);
	return *s ? OK : ERR_OUT_OF_MEMORY;
}

EXPORT CUresult cuStreamSynchronize(void *s)
{
	return s ? OK : misuse(ERR_INVALID_VALUE, "synchronise of no stream");
}

EXPORT CUresult cuStreamDestroy_v2(void *s)
{
	free(s);
	return OK;
}

/* For the test: physical bytes in use, live registrations. */
EXPORT size_t fake_cuda_used(void)
{
	return used;
}

EXPORT int fake_cuda_registrations(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_REGS; i++)
		n += regs[i].len != 0;
	return n;
}
