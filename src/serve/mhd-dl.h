/*
 * mhd-dl.h - libmicrohttpd, loaded by thaw serve only.
 *
 * libmicrohttpd links GnuTLS and its eight libraries.  thaw serve starts its
 * workers by exec'ing `thaw run`, and every start of the thaw binary would
 * pay for loading them, though only serve uses the library.  So, as for
 * libcurl (base/curl-dl.h), the few entry points serve calls are resolved
 * with dlopen when serve starts; a file that calls them includes this header
 * after <microhttpd.h> and calls mhd_dl_load() first.
 */
#ifndef THAW_SERVE_MHD_DL_H
#define THAW_SERVE_MHD_DL_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>

struct mhd_dl {
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
					   MHD_AcceptPolicyCallback apc, void *apc_cls,
					   MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	MHD_socket (*quiesce_daemon)(struct MHD_Daemon *d);
	void (*stop_daemon)(struct MHD_Daemon *d);
	struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
							    enum MHD_ResponseMemoryMode mode);
	struct MHD_Response *(*create_response_from_callback)(uint64_t size, size_t block_size,
							      MHD_ContentReaderCallback crc,
							      void *crc_cls,
							      MHD_ContentReaderFreeCallback crfc);
	enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *header,
					       const char *content);
	enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status,
					  struct MHD_Response *r);
	void (*destroy_response)(struct MHD_Response *r);
	int (*get_connection_values)(struct MHD_Connection *c, enum MHD_ValueKind kind,
				     MHD_KeyValueIterator it, void *it_cls);
	const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind kind,
					       const char *key);
	const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *c,
							       enum MHD_ConnectionInfoType type, ...);
};

extern struct mhd_dl mhd_dl;

/* Loads libmicrohttpd.so.12 once; 0 or -ENOENT (logged: which library, and why). */
int mhd_dl_load(void) __attribute__((warn_unused_result));

#define MHD_start_daemon mhd_dl.start_daemon
#define MHD_quiesce_daemon mhd_dl.quiesce_daemon
#define MHD_stop_daemon mhd_dl.stop_daemon
#define MHD_create_response_from_buffer mhd_dl.create_response_from_buffer
#define MHD_create_response_from_callback mhd_dl.create_response_from_callback
#define MHD_add_response_header mhd_dl.add_response_header
#define MHD_queue_response mhd_dl.queue_response
#define MHD_destroy_response mhd_dl.destroy_response
#define MHD_get_connection_values mhd_dl.get_connection_values
#define MHD_lookup_connection_value mhd_dl.lookup_connection_value
#define MHD_get_connection_info mhd_dl.get_connection_info

#endif
