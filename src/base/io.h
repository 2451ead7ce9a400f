/*
 * io.h - whole reads and writes at an offset, the loops every layer needs.
 *
 * pread/pwrite may move fewer bytes than asked (signals, pipes, large
 * counts); these retry until all of len is moved.  0, or -errno, or -EIO
 * when the file ends first (it shrank) or a write moves nothing.  Silent:
 * the caller names the file.
 */
#ifndef THAW_BASE_IO_H
#define THAW_BASE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

int io_pread_all(int fd, void *buf, size_t len, uint64_t off) __attribute__((warn_unused_result));
int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
	__attribute__((warn_unused_result));
/* pwritev of all of iov[0..n) (which it may change: a short write moves on through it). */
int io_pwritev_all(int fd, struct iovec *iov, int n, uint64_t off)
	__attribute__((warn_unused_result));

#endif
