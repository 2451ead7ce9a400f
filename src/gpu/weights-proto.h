/*
 * weights-proto.h - how thaw talks to libthaw's GPU weights region in a
 * program (sdk/c/gpu-weights.c, docs/gpu.md "Weights outside the driver's
 * checkpoint").  Shared by libthaw and thaw; nothing else of thaw's here.
 *
 * A program that allocated weights with thaw_gpu_weights_alloc() holds:
 * - a memfd named "thaw-gpu-weights" with one struct tw_registry at offset 0;
 * - two pipes: requests (thaw writes a struct tw_request to req_fd, the
 *   write end) and replies (libthaw's agent thread writes a struct tw_reply,
 *   thaw reads it from rep_fd, the read end);
 * - the agent thread (agent_tid), which blocks reading requests.
 * thaw reaches the fds through pidfd_getfd(2).  Everything it reads from the
 * process is untrusted: src/gpu/weights.c bounds and checks each field.
 * Each message is a single write of at most PIPE_BUF bytes, so it arrives
 * whole.
 */
#ifndef THAW_GPU_WEIGHTS_PROTO_H
#define THAW_GPU_WEIGHTS_PROTO_H

#include <stdint.h>

#define TW_MEMFD_NAME	  "thaw-gpu-weights"
#define TW_REGISTRY_MAGIC "THAWGPW1" /* 8 bytes, no NUL */
#define TW_REQUEST_MAGIC  "TWRQ"
#define TW_REPLY_MAGIC	  "TWRP"
#define TW_VERSION	  1

struct tw_registry {
	char magic[8];
	uint32_t version;     /* TW_VERSION */
	uint32_t size;	      /* sizeof(struct tw_registry) */
	int32_t agent_tid;    /* the thread that answers (gettid()) */
	int32_t req_fd;	      /* the request pipe's write end, for thaw */
	int32_t rep_fd;	      /* the reply pipe's read end, for thaw */
	uint32_t nr_segments; /* allocations in the region now */
	uint64_t bytes;	      /* device bytes in the region now */
	uint64_t reserved[3];
};

enum tw_op {
	TW_OP_SAVE = 1, /* copy the region into host memory, then release the device memory */
	TW_OP_LOAD = 2, /* device memory again at the same addresses, bytes copied back */
};

struct tw_request {
	char magic[4];
	uint32_t op;  /* enum tw_op */
	uint32_t seq; /* echoed in the reply */
	uint32_t reserved;
};

struct tw_reply {
	char magic[4];
	uint32_t seq;
	int32_t ret; /* 0 or -errno */
	uint32_t nr_segments;
	uint64_t bytes;	   /* device bytes copied (0 when there was nothing to do) */
	uint64_t copy_us;  /* the copies alone */
	uint64_t total_us; /* the whole request: allocation, mapping, copies, release */
	char msg[216];	   /* what failed, NUL-terminated (untrusted: thaw sanitises it) */
};

_Static_assert(sizeof(struct tw_registry) == 64, "tw_registry is 64 bytes");
_Static_assert(sizeof(struct tw_request) == 16, "tw_request is 16 bytes");
_Static_assert(sizeof(struct tw_reply) == 256, "tw_reply is 256 bytes");

#endif
