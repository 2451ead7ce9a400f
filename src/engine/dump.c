/*
 * dump.c - engine_dump(): freeze, collect, write, then kill or let go.
 *
 * Nothing before the publish may change what the program can observe:
 * injected system calls put every register back, fds are inspected through
 * duplicates, memory is only read.  So on any failure the snapshot
 * directory is removed, the threads are let go, and the program runs on as
 * if nothing had happened.
 */
#define LOG_TAG "dump"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine-internal.h"
#include "engine.h"
#include "fds.h"
#include "gpu/gpu.h"

int engine_dump(const struct engine_dump_opts *opts, struct engine_dump_stats *stats)
{
	struct engine_dump_stats st = { 0 };
	struct image *img = NULL;
	struct gpu_stats gst;
	struct frozen fz;
	int *ext = NULL;
	size_t nr_ext;
	double t0 = now_ms(), t1, t2;
	uint32_t i;
	int ret;

	ret = image_create(opts->dir, &img);
	if (ret < 0)
		return ret;
	/* GPU first: the driver's checkpoint runs in threads a freeze would stop */
	ret = gpu_checkpoint(opts->pid, opts->gpu_lock_timeout_ms, img, &gst);
	if (ret < 0) {
		image_abort(img);
		return ret;
	}
	ret = freeze_process(opts->pid, &fz);
	if (ret < 0) {
		if (img->has_gpu)
			gpu_resume(opts->pid);
		image_abort(img);
		return ret;
	}
	t1 = now_ms();
	st.freeze_ms = t1 - t0;
	host_fingerprint(&img->host);
	ret = process_dump(&fz, img);
	if (ret == 0)
		ret = threads_dump(&fz, img);
	if (ret == 0)
		ret = mem_dump(&fz, img);
	ext = gpu_external_fds(img, opts->external_fds, opts->nr_external_fds, &nr_ext);
	if (ret == 0)
		ret = fds_dump_with(opts->pid, img, ext ? ext : opts->external_fds, nr_ext,
				    opts->tcp_close);
	free(ext);
	t2 = now_ms();
	st.collect_ms = t2 - t1;
	if (ret == 0)
		ret = image_publish(img);
	if (ret < 0) {
		log_error("pid %d: dump failed; the process runs on", opts->pid);
		frozen_release(&fz, false);
		if (img->has_gpu)
			gpu_resume(opts->pid);
		image_abort(img);
		return ret;
	}
	st.write_ms = now_ms() - t2;
	for (i = 0; i < img->nr_vmas; i++) {
		st.pages_dumped += img->vmas[i].pages_dumped;
		st.pages_zero += img->vmas[i].pages_zero;
	}
	st.bytes_written = img->pages_bytes + img->data_bytes;
	frozen_release(&fz, !opts->leave_running);
	if (img->has_gpu && opts->leave_running)
		gpu_resume(opts->pid);
	image_free(img);
	st.total_ms = now_ms() - t0;
	log_info("pid %d: snapshot written to %s in %.1f ms (freeze %.1f, collect %.1f, write "
		 "%.1f; %llu pages, %llu zero pages skipped)",
		 opts->pid, opts->dir, st.total_ms, st.freeze_ms, st.collect_ms, st.write_ms,
		 st.pages_dumped, st.pages_zero);
	if (stats)
		*stats = st;
	return 0;
}
