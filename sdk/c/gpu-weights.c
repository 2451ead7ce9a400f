/*
 * gpu-weights.c - libthaw's GPU weights region (include/thaw.h, docs/gpu.md
 * "Weights outside the driver's checkpoint").
 *
 * The CUDA driver's checkpoint moves device memory to host memory at a few
 * GB/s, while pinned copies run at tens of GB/s.  Weights are large and
 * static, so the program puts them here and thaw saves them itself: each
 * allocation is its own virtual address reservation (cuMemAddressReserve)
 * with physical memory mapped into it (cuMemCreate, cuMemMap,
 * cuMemSetAccess).  At a snapshot thaw asks for TW_OP_SAVE: the bytes go to
 * an anonymous host buffer, which the snapshot holds like any other memory,
 * and the physical memory is unmapped and released while the reservations
 * stay, so the driver's checkpoint has little left to move.  After the
 * driver's restore (and in a process that goes on after its snapshot) thaw
 * asks for TW_OP_LOAD: new physical memory is mapped at the same addresses
 * and the bytes go back, so kernels and CUDA graphs that hold raw pointers
 * keep working.
 *
 * thaw reaches this code through src/gpu/weights-proto.h: a memfd named
 * "thaw-gpu-weights" holds where to write requests, and a thread of ours
 * (the agent) answers them.  At a restore thaw lets the agent run with the
 * driver's restore thread while every other thread is still held, so the
 * weights are back before any thread of the program runs.
 *
 * Copies go through pinned memory without a second buffer: the host buffer
 * is registered (cuMemHostRegister) in chunks by several threads, each
 * copying one chunk on its stream while registering the next.
 *
 * libcuda.so.1 is loaded with dlopen: libthaw links nothing but libc, and
 * builds without CUDA headers (the types below are the driver API's, cuda.h
 * of CUDA 12 and 13).
 */
#include "thaw.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../src/gpu/weights-proto.h"

#define THAW_API __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef unsigned long long CUmemGenericAllocationHandle;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;

struct cu_mem_location {
	int type; /* CU_MEM_LOCATION_TYPE_DEVICE */
	int id;
};

struct cu_alloc_prop {
	int type; /* CU_MEM_ALLOCATION_TYPE_PINNED */
	int requested_handle_types;
	struct cu_mem_location location;
	void *win32_meta;
	unsigned char compression_type, rdma_capable;
	unsigned short usage;
	unsigned char reserved[4];
};

struct cu_access_desc {
	struct cu_mem_location location;
	int flags; /* CU_MEM_ACCESS_FLAGS_PROT_READWRITE */
};

_Static_assert(sizeof(struct cu_alloc_prop) == 32, "CUmemAllocationProp is 32 bytes");
_Static_assert(sizeof(struct cu_access_desc) == 12, "CUmemAccessDesc is 12 bytes");

#define CU_MEM_LOCATION_TYPE_DEVICE	     1
#define CU_MEM_ALLOCATION_TYPE_PINNED	     1
#define CU_MEM_ACCESS_FLAGS_PROT_READWRITE   3
#define CU_MEM_ALLOC_GRANULARITY_RECOMMENDED 1
#define CU_STREAM_NON_BLOCKING		     1
#define CUDA_ERROR_OUT_OF_MEMORY	     2

static struct cu {
	CUresult (*init)(unsigned);
	CUresult (*error_string)(CUresult, const char **);
	CUresult (*device_get)(CUdevice *, int);
	CUresult (*primary_retain)(CUcontext *, CUdevice);
	CUresult (*ctx_get)(CUcontext *);
	CUresult (*ctx_set)(CUcontext);
	CUresult (*ctx_sync)(void);
	CUresult (*mem_info)(size_t *, size_t *);
	CUresult (*granularity)(size_t *, const struct cu_alloc_prop *, int);
	CUresult (*reserve)(CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long);
	CUresult (*unreserve)(CUdeviceptr, size_t);
	CUresult (*create)(CUmemGenericAllocationHandle *, size_t, const struct cu_alloc_prop *,
			   unsigned long long);
	CUresult (*release)(CUmemGenericAllocationHandle);
	CUresult (*map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle,
			unsigned long long);
	CUresult (*unmap)(CUdeviceptr, size_t);
	CUresult (*set_access)(CUdeviceptr, size_t, const struct cu_access_desc *, size_t);
	CUresult (*host_register)(void *, size_t, unsigned);
	CUresult (*host_unregister)(void *);
	CUresult (*dtoh_async)(void *, CUdeviceptr, size_t, CUstream);
	CUresult (*htod_async)(CUdeviceptr, const void *, size_t, CUstream);
	CUresult (*stream_create)(CUstream *, unsigned);
	CUresult (*stream_sync)(CUstream);
	CUresult (*stream_destroy)(CUstream);
} cu;

#define MAX_DEVICES  16
#define MAX_SEGMENTS (1u << 20)

struct segment {
	CUdeviceptr va;
	size_t size; /* a multiple of the granularity: reserved and mapped alike */
	CUmemGenericAllocationHandle handle; /* 0 while saved */
	int device;
	size_t host_off; /* where its bytes are in the host buffer while saved */
};

static struct region {
	pthread_mutex_t lock; /* everything below; held through a save or a load */
	bool loaded, saved;
	char load_error[256];
	CUcontext ctx[MAX_DEVICES];
	size_t granularity[MAX_DEVICES];
	struct segment *segs;
	size_t nr_segs, cap_segs;
	uint64_t bytes;
	unsigned char *host; /* the saved bytes, while saved */
	size_t host_len;
	/* what thaw talks to */
	bool has_agent;
	int memfd, req[2], rep[2];
	pid_t agent_tid;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .memfd = -1, .req = {-1, -1}, .rep = {-1, -1}};

static __thread char error_text[256];

static void set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error_text, sizeof(error_text), fmt, ap);
	va_end(ap);
}

static const char *cu_str(CUresult rc)
{
	const char *s = NULL;

	if (cu.error_string && cu.error_string(rc, &s) == 0 && s)
		return s;
	return "unknown CUDA error";
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Loads the driver's entry points once; R.lock held.  0, or -1 with the error set. */
static int load_driver(void)
{
	void *h;

	if (R.loaded)
		return 0;
	if (R.load_error[0]) {
		set_error("%s", R.load_error);
		return -1;
	}
	h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(R.load_error, sizeof(R.load_error), "cannot load libcuda.so.1: %s",
			 dlerror());
		set_error("%s", R.load_error);
		return -1;
	}
#define SYM(field, name) (*(void **)&cu.field = dlsym(h, name))
	SYM(init, "cuInit");
	SYM(error_string, "cuGetErrorString");
	SYM(device_get, "cuDeviceGet");
	SYM(primary_retain, "cuDevicePrimaryCtxRetain");
	SYM(ctx_get, "cuCtxGetCurrent");
	SYM(ctx_set, "cuCtxSetCurrent");
	SYM(ctx_sync, "cuCtxSynchronize");
	SYM(mem_info, "cuMemGetInfo_v2");
	SYM(granularity, "cuMemGetAllocationGranularity");
	SYM(reserve, "cuMemAddressReserve");
	SYM(unreserve, "cuMemAddressFree");
	SYM(create, "cuMemCreate");
	SYM(release, "cuMemRelease");
	SYM(map, "cuMemMap");
	SYM(unmap, "cuMemUnmap");
	SYM(set_access, "cuMemSetAccess");
	SYM(host_register, "cuMemHostRegister_v2");
	SYM(host_unregister, "cuMemHostUnregister");
	SYM(dtoh_async, "cuMemcpyDtoHAsync_v2");
	SYM(htod_async, "cuMemcpyHtoDAsync_v2");
	SYM(stream_create, "cuStreamCreate");
	SYM(stream_sync, "cuStreamSynchronize");
	SYM(stream_destroy, "cuStreamDestroy_v2");
#undef SYM
	{
		void **p = (void **)&cu;
		size_t i;

		for (i = 0; i < sizeof(cu) / sizeof(void *); i++)
			if (!p[i]) {
				snprintf(R.load_error, sizeof(R.load_error),
					 "libcuda.so.1 lacks the virtual memory management API "
					 "(cuMemCreate and friends, CUDA 10.2+)");
				set_error("%s", R.load_error);
				return -1;
			}
	}
	if (cu.init(0)) {
		snprintf(R.load_error, sizeof(R.load_error), "cuInit failed");
		set_error("%s", R.load_error);
		return -1;
	}
	R.loaded = true;
	return 0;
}

static void device_prop(int device, struct cu_alloc_prop *prop)
{
	memset(prop, 0, sizeof(*prop));
	prop->type = CU_MEM_ALLOCATION_TYPE_PINNED;
	prop->location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	prop->location.id = device;
}

/* The device's primary context (what the runtime API and torch use), retained once. */
static int device_ctx(int device)
{
	struct cu_alloc_prop prop;
	CUdevice dev;
	CUresult rc;

	if (device < 0 || device >= MAX_DEVICES) {
		set_error("device %d: thaw handles devices 0 to %d", device, MAX_DEVICES - 1);
		return -1;
	}
	if (R.ctx[device])
		return 0;
	rc = cu.device_get(&dev, device);
	if (!rc)
		rc = cu.primary_retain(&R.ctx[device], dev);
	if (rc) {
		R.ctx[device] = NULL;
		set_error("device %d: %s", device, cu_str(rc));
		return -1;
	}
	device_prop(device, &prop);
	rc = cu.granularity(&R.granularity[device], &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED);
	if (rc || !R.granularity[device]) {
		R.ctx[device] = NULL;
		set_error("device %d: cuMemGetAllocationGranularity: %s", device, cu_str(rc));
		return -1;
	}
	return 0;
}

/* Physical memory for s, mapped at s->va with read-write access for its device. */
static CUresult map_segment(struct segment *s)
{
	struct cu_access_desc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, s->device},
				     CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
	struct cu_alloc_prop prop;
	CUmemGenericAllocationHandle h;
	CUresult rc;

	device_prop(s->device, &prop);
	rc = cu.create(&h, s->size, &prop, 0);
	if (rc)
		return rc;
	rc = cu.map(s->va, s->size, 0, h, 0);
	if (rc) {
		cu.release(h);
		return rc;
	}
	rc = cu.set_access(s->va, s->size, &acc, 1);
	if (rc) {
		cu.unmap(s->va, s->size);
		cu.release(h);
		return rc;
	}
	s->handle = h;
	return 0;
}

static void unmap_segment(struct segment *s)
{
	if (!s->handle)
		return;
	cu.unmap(s->va, s->size);
	cu.release(s->handle);
	s->handle = 0;
}

/* ---- what thaw reads: the registry ---- */

static void publish(void)
{
	struct tw_registry reg = {.version = TW_VERSION, .size = sizeof(reg)};

	if (!R.has_agent)
		return;
	memcpy(reg.magic, TW_REGISTRY_MAGIC, sizeof(reg.magic));
	reg.agent_tid = R.agent_tid;
	reg.req_fd = R.req[1];
	reg.rep_fd = R.rep[0];
	reg.nr_segments = (uint32_t)R.nr_segs;
	reg.bytes = R.bytes;
	if (pwrite(R.memfd, &reg, sizeof(reg), 0) != (ssize_t)sizeof(reg))
		set_error("writing the weights registry: %s", strerror(errno));
}

static int start_agent(void);

/* ---- allocation ---- */

static void *alloc_locked(size_t size, int device)
{
	struct segment *s;
	CUcontext old = NULL;
	CUresult rc;
	size_t g;

	if (load_driver() < 0 || device_ctx(device) < 0)
		return NULL;
	if (R.saved) {
		set_error("the weights region is saved for a snapshot; allocate after it");
		return NULL;
	}
	if (!R.has_agent && start_agent() < 0)
		return NULL;
	if (R.nr_segs == R.cap_segs) {
		size_t cap = R.cap_segs ? R.cap_segs * 2 : 64;
		struct segment *grown;

		if (cap > MAX_SEGMENTS) {
			set_error("more than %u weights allocations", MAX_SEGMENTS);
			return NULL;
		}
		grown = realloc(R.segs, cap * sizeof(*grown));
		if (!grown) {
			set_error("out of host memory");
			return NULL;
		}
		R.segs = grown;
		R.cap_segs = cap;
	}
	g = R.granularity[device];
	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - g) {
		set_error("%zu bytes is too large", size);
		return NULL;
	}
	s = &R.segs[R.nr_segs];
	memset(s, 0, sizeof(*s));
	s->size = (size + g - 1) / g * g;
	s->device = device;
	cu.ctx_get(&old);
	cu.ctx_set(R.ctx[device]);
	rc = cu.reserve(&s->va, s->size, g, 0, 0);
	if (rc) {
		set_error("cuMemAddressReserve of %zu bytes: %s", s->size, cu_str(rc));
	} else {
		rc = map_segment(s);
		if (rc) {
			set_error("device %d: %zu bytes: %s", device, s->size, cu_str(rc));
			cu.unreserve(s->va, s->size);
		}
	}
	cu.ctx_set(old);
	if (rc)
		return NULL;
	R.nr_segs++;
	R.bytes += s->size;
	publish();
	return (void *)(uintptr_t)s->va;
}

THAW_API void *thaw_gpu_weights_alloc(size_t size, int device)
{
	void *p;

	pthread_mutex_lock(&R.lock);
	p = alloc_locked(size, device);
	pthread_mutex_unlock(&R.lock);
	return p;
}

THAW_API int thaw_gpu_weights_free(void *ptr)
{
	CUdeviceptr va = (CUdeviceptr)(uintptr_t)ptr;
	CUcontext old = NULL;
	size_t i;

	if (!ptr)
		return 0;
	pthread_mutex_lock(&R.lock);
	for (i = 0; i < R.nr_segs && R.segs[i].va != va; i++)
		;
	if (i == R.nr_segs) {
		pthread_mutex_unlock(&R.lock);
		set_error("%p is not a weights allocation", ptr);
		errno = EINVAL;
		return -1;
	}
	cu.ctx_get(&old);
	cu.ctx_set(R.ctx[R.segs[i].device]);
	cu.ctx_sync(); /* kernels still queued may read it */
	unmap_segment(&R.segs[i]);
	cu.unreserve(va, R.segs[i].size);
	cu.ctx_set(old);
	R.bytes -= R.segs[i].size;
	/* kept in order: a saved region's copies walk them sorted */
	memmove(&R.segs[i], &R.segs[i + 1], (R.nr_segs - i - 1) * sizeof(*R.segs));
	R.nr_segs--;
	publish();
	pthread_mutex_unlock(&R.lock);
	return 0;
}

THAW_API size_t thaw_gpu_weights_bytes(void)
{
	size_t n;

	pthread_mutex_lock(&R.lock);
	n = R.bytes;
	pthread_mutex_unlock(&R.lock);
	return n;
}

THAW_API const char *thaw_gpu_weights_error(void)
{
	return error_text;
}

/* torch.cuda.memory.CUDAPluggableAllocator's signatures (thaw.gpu.weights()) */
THAW_API void *thaw_gpu_weights_torch_alloc(ssize_t size, int device, void *stream)
{
	(void)stream;
	if (size < 0)
		return NULL;
	return thaw_gpu_weights_alloc((size_t)size, device);
}

THAW_API void thaw_gpu_weights_torch_free(void *ptr, ssize_t size, int device, void *stream)
{
	(void)size;
	(void)device;
	(void)stream;
	thaw_gpu_weights_free(ptr);
}

/* ---- the copies: several threads, each registering its chunks and copying on its streams ---- */

struct xfer {
	bool to_host;
	int device;
	struct segment *segs; /* this device's, in host-buffer order */
	size_t nr_segs;
	size_t base, len; /* this device's part of the host buffer */
	size_t chunk;
	unsigned nr_threads;
	pthread_mutex_t lock;
	size_t next; /* the next chunk to take */
	CUresult failed;
	char what[128];
};

static void xfer_fail(struct xfer *x, CUresult rc, const char *what)
{
	pthread_mutex_lock(&x->lock);
	if (!x->failed) {
		x->failed = rc;
		snprintf(x->what, sizeof(x->what), "%s", what);
	}
	pthread_mutex_unlock(&x->lock);
}

/* Issues the copies of host bytes [off, off + len) of the device's part on stream st. */
static CUresult copy_chunk(struct xfer *x, size_t off, size_t len, CUstream st)
{
	size_t lo = 0, hi = x->nr_segs;

	/* the first segment that ends after off */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct segment *s = &x->segs[mid];

		if (s->host_off + s->size <= x->base + off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < x->nr_segs; lo++) {
		const struct segment *s = &x->segs[lo];
		size_t from = x->base + off, to = x->base + off + len, a, b;
		CUresult rc;

		if (s->host_off >= to)
			break;
		a = s->host_off > from ? s->host_off : from;
		b = s->host_off + s->size < to ? s->host_off + s->size : to;
		if (x->to_host)
			rc = cu.dtoh_async(R.host + a, s->va + (a - s->host_off), b - a, st);
		else
			rc = cu.htod_async(s->va + (a - s->host_off), R.host + a, b - a, st);
		if (rc)
			return rc;
	}
	return 0;
}

static void *xfer_thread(void *arg)
{
	struct xfer *x = arg;
	CUstream st[2] = {NULL, NULL};
	void *pinned[2] = {NULL, NULL};
	unsigned n = 0, k;
	CUresult rc;

	rc = cu.ctx_set(R.ctx[x->device]);
	if (!rc)
		rc = cu.stream_create(&st[0], CU_STREAM_NON_BLOCKING);
	if (!rc)
		rc = cu.stream_create(&st[1], CU_STREAM_NON_BLOCKING);
	if (rc) {
		xfer_fail(x, rc, "creating copy streams");
		goto out;
	}
	for (;; n++) {
		unsigned slot = n & 1;
		size_t idx, off, len;
		void *p;

		pthread_mutex_lock(&x->lock);
		idx = x->failed ? SIZE_MAX : x->next++;
		pthread_mutex_unlock(&x->lock);
		if (idx == SIZE_MAX || idx > (x->len - 1) / x->chunk)
			break;
		off = idx * x->chunk;
		len = x->len - off < x->chunk ? x->len - off : x->chunk;
		/* this slot's previous chunk is done before its pages are let go */
		rc = cu.stream_sync(st[slot]);
		if (pinned[slot])
			cu.host_unregister(pinned[slot]);
		pinned[slot] = NULL;
		if (rc) {
			xfer_fail(x, rc, "waiting for a copy");
			break;
		}
		p = R.host + x->base + off;
		/* unpinned, the copy still works, at pageable speed */
		if (cu.host_register(p, len, 0) == 0)
			pinned[slot] = p;
		rc = copy_chunk(x, off, len, st[slot]);
		if (rc) {
			xfer_fail(x, rc,
				  x->to_host ? "copying device to host" : "copying host to device");
			break;
		}
	}
out:
	for (k = 0; k < 2; k++) {
		if (st[k]) {
			rc = cu.stream_sync(st[k]);
			if (rc)
				xfer_fail(x, rc, "finishing a copy");
			cu.stream_destroy(st[k]);
		}
		if (pinned[k])
			cu.host_unregister(pinned[k]);
	}
	return NULL;
}

static size_t env_size(const char *name, size_t dflt, size_t lo, size_t hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	v = strtoul(s, &end, 10);
	if (*end || v < lo || v > hi)
		return dflt;
	return v;
}

/* Copies every segment of device between the device and the host buffer. */
static int xfer_device(bool to_host, int device, size_t first, size_t nr, char *msg, size_t len)
{
	pthread_t tids[32];
	struct xfer x = {
	    .to_host = to_host,
	    .device = device,
	    .segs = &R.segs[first],
	    .nr_segs = nr,
	    .lock = PTHREAD_MUTEX_INITIALIZER,
	};
	unsigned i, started = 0;

	if (!nr)
		return 0;
	x.base = R.segs[first].host_off;
	x.len = R.segs[first + nr - 1].host_off + R.segs[first + nr - 1].size - x.base;
	x.chunk = env_size("THAW_GPU_WEIGHTS_CHUNK_MB", 64, 2, 4096) << 20;
	x.nr_threads = (unsigned)env_size("THAW_GPU_WEIGHTS_THREADS", 8, 1, 32);
	for (i = 0; i < x.nr_threads; i++)
		if (pthread_create(&tids[started], NULL, xfer_thread, &x) == 0)
			started++;
	if (!started)
		xfer_thread(&x); /* no thread to be had: this one does it all */
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (x.failed) {
		snprintf(msg, len, "device %d: %s: %s", device, x.what, cu_str(x.failed));
		return x.failed == CUDA_ERROR_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	return 0;
}

static int cmp_segment(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	if (x->device != y->device)
		return x->device < y->device ? -1 : 1;
	return x->va < y->va ? -1 : x->va > y->va;
}

/* Runs fn over each device's run of R.segs (sorted by device). */
static int for_each_device(int (*fn)(int device, size_t first, size_t nr, char *msg, size_t len),
			   char *msg, size_t len)
{
	size_t i = 0, j;
	int ret;

	while (i < R.nr_segs) {
		for (j = i; j < R.nr_segs && R.segs[j].device == R.segs[i].device; j++)
			;
		ret = fn(R.segs[i].device, i, j - i, msg, len);
		if (ret < 0)
			return ret;
		i = j;
	}
	return 0;
}

static int copy_out(int device, size_t first, size_t nr, char *msg, size_t len)
{
	CUresult rc = cu.ctx_set(R.ctx[device]);

	if (!rc)
		rc = cu.ctx_sync(); /* whatever still writes the weights is done */
	if (rc) {
		snprintf(msg, len, "device %d: synchronising: %s", device, cu_str(rc));
		return -EIO;
	}
	return xfer_device(true, device, first, nr, msg, len);
}

static int copy_in(int device, size_t first, size_t nr, char *msg, size_t len)
{
	return xfer_device(false, device, first, nr, msg, len);
}

/* Enough free memory on device for its segments; else a clear -ENOMEM. */
static int check_free(int device, size_t first, size_t nr, char *msg, size_t len)
{
	size_t need = 0, avail = 0, total = 0, i;
	CUresult rc = cu.ctx_set(R.ctx[device]);

	for (i = first; i < first + nr; i++)
		need += R.segs[i].size;
	if (!rc)
		rc = cu.mem_info(&avail, &total);
	if (rc) {
		snprintf(msg, len, "device %d: cuMemGetInfo: %s", device, cu_str(rc));
		return -EIO;
	}
	if (avail < need) {
		snprintf(msg, len,
			 "GPU %d has %.2f GiB free, the weights need %.2f GiB: not enough GPU "
			 "memory",
			 device, (double)avail / (1u << 30), (double)need / (1u << 30));
		return -ENOMEM;
	}
	return 0;
}

static int map_all(int device, size_t first, size_t nr, char *msg, size_t len)
{
	size_t i;
	CUresult rc = cu.ctx_set(R.ctx[device]);

	for (i = first; !rc && i < first + nr; i++)
		rc = map_segment(&R.segs[i]);
	if (rc) {
		snprintf(msg, len, "device %d: mapping %zu bytes at 0x%llx again: %s", device,
			 R.segs[i - 1].size, R.segs[i - 1].va, cu_str(rc));
		return rc == CUDA_ERROR_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	return 0;
}

static void unmap_all(void)
{
	size_t i;

	for (i = 0; i < R.nr_segs; i++) {
		cu.ctx_set(R.ctx[R.segs[i].device]);
		unmap_segment(&R.segs[i]);
	}
}

static void drop_host(void)
{
	if (R.host)
		munmap(R.host, R.host_len);
	R.host = NULL;
	R.host_len = 0;
}

/* TW_OP_SAVE, R.lock held: the bytes into host memory, then the device memory released. */
static int save_locked(struct tw_reply *r)
{
	CUcontext old = NULL;
	uint64_t t;
	size_t off = 0, i;
	int ret;

	if (R.saved) {
		r->bytes = R.host_len; /* an earlier save that no load followed */
		return 0;
	}
	if (!R.nr_segs)
		return 0;
	qsort(R.segs, R.nr_segs, sizeof(*R.segs), cmp_segment);
	for (i = 0; i < R.nr_segs; i++) {
		R.segs[i].host_off = off;
		off += R.segs[i].size;
	}
	R.host = mmap(NULL, off, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (R.host == MAP_FAILED) {
		R.host = NULL;
		snprintf(r->msg, sizeof(r->msg), "mapping %zu bytes of host memory: %s", off,
			 strerror(errno));
		return -ENOMEM;
	}
	R.host_len = off;
	madvise(R.host, off, MADV_HUGEPAGE); /* fewer pages to pin */
	cu.ctx_get(&old);
	t = now_us();
	ret = for_each_device(copy_out, r->msg, sizeof(r->msg));
	r->copy_us = now_us() - t;
	if (ret == 0) {
		unmap_all(); /* the reservations stay: same addresses after the restore */
		R.saved = true;
		r->bytes = off;
	} else {
		drop_host();
	}
	cu.ctx_set(old);
	return ret;
}

/* TW_OP_LOAD, R.lock held: device memory at the same addresses, the bytes back. */
static int load_locked(struct tw_reply *r)
{
	CUcontext old = NULL;
	uint64_t t;
	int ret;

	if (!R.saved)
		return 0;
	cu.ctx_get(&old);
	ret = for_each_device(check_free, r->msg, sizeof(r->msg));
	if (ret == 0)
		ret = for_each_device(map_all, r->msg, sizeof(r->msg));
	if (ret == 0) {
		t = now_us();
		ret = for_each_device(copy_in, r->msg, sizeof(r->msg));
		r->copy_us = now_us() - t;
	}
	if (ret == 0) {
		r->bytes = R.host_len;
		R.saved = false;
		drop_host();
	} else {
		unmap_all(); /* saved as before: a later load may find the memory */
	}
	cu.ctx_set(old);
	return ret;
}

static int run_op(uint32_t op, struct tw_reply *r)
{
	uint64_t t = now_us();
	int ret;

	pthread_mutex_lock(&R.lock);
	switch (op) {
	case TW_OP_SAVE:
		ret = save_locked(r);
		break;
	case TW_OP_LOAD:
		ret = load_locked(r);
		break;
	default:
		snprintf(r->msg, sizeof(r->msg), "unknown request %u", op);
		ret = -EINVAL;
	}
	r->nr_segments = (uint32_t)R.nr_segs;
	pthread_mutex_unlock(&R.lock);
	r->total_us = now_us() - t;
	r->ret = ret;
	return ret;
}

THAW_API int thaw_gpu_weights_save(void)
{
	struct tw_reply r = {.ret = 0};

	if (run_op(TW_OP_SAVE, &r) < 0) {
		set_error("%s", r.msg);
		return -1;
	}
	return 0;
}

THAW_API int thaw_gpu_weights_load(void)
{
	struct tw_reply r = {.ret = 0};

	if (run_op(TW_OP_LOAD, &r) < 0) {
		set_error("%s", r.msg);
		return -1;
	}
	return 0;
}

/* ---- the agent: answers thaw's requests ---- */

static void *agent_main(void *arg)
{
	sem_t *started = arg;
	sigset_t all;

	/* process-directed signals go to the program's threads, never here */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	R.agent_tid = gettid();
	sem_post(started);
	for (;;) {
		struct tw_request rq;
		struct tw_reply r;
		ssize_t n = read(R.req[0], &rq, sizeof(rq));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		memset(&r, 0, sizeof(r));
		memcpy(r.magic, TW_REPLY_MAGIC, sizeof(r.magic));
		if (n != (ssize_t)sizeof(rq) || memcmp(rq.magic, TW_REQUEST_MAGIC, 4)) {
			r.ret = -EINVAL;
			snprintf(r.msg, sizeof(r.msg), "a malformed request of %zd bytes", n);
		} else {
			r.seq = rq.seq;
			run_op(rq.op, &r);
		}
		while (write(R.rep[1], &r, sizeof(r)) < 0 && errno == EINTR)
			;
	}
}

/* R.lock held: the memfd, the pipes and the thread thaw talks to. */
static int start_agent(void)
{
	pthread_attr_t attr;
	sem_t started;
	pthread_t tid;
	int ret;

	R.memfd = memfd_create(TW_MEMFD_NAME, MFD_CLOEXEC);
	if (R.memfd < 0 || pipe2(R.req, O_CLOEXEC) < 0 || pipe2(R.rep, O_CLOEXEC) < 0) {
		set_error("creating the weights registry: %s", strerror(errno));
		goto fail;
	}
	sem_init(&started, 0, 0);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	ret = pthread_create(&tid, &attr, agent_main, &started);
	pthread_attr_destroy(&attr);
	if (ret) {
		set_error("starting the weights thread: %s", strerror(ret));
		sem_destroy(&started);
		goto fail;
	}
	while (sem_wait(&started) < 0 && errno == EINTR) /* the agent has its tid */
		;
	sem_destroy(&started);
	pthread_setname_np(tid, "thaw-weights");
	R.has_agent = true;
	publish();
	return 0;
fail:
	if (R.memfd >= 0)
		close(R.memfd);
	for (ret = 0; ret < 2; ret++) {
		if (R.req[ret] >= 0)
			close(R.req[ret]);
		if (R.rep[ret] >= 0)
			close(R.rep[ret]);
		R.req[ret] = R.rep[ret] = -1;
	}
	R.memfd = -1;
	return -1;
}
