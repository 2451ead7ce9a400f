/* compat: restore */
/*
 * lease.c - leases (F_SETLEASE) come back with their type: a read lease on
 * file R and a write lease on file W (both opened read-only, as a write lease
 * allows no other open of the file).  F_GETLEASE answers F_RDLCK and
 * F_WRLCK, fdinfo shows them active, and setting them made this process the
 * fds' owner.  Nothing may open the files after the restore: a lease break
 * would kill the program with SIGIO, whose action is left at the default.
 */
#include "compat.h"
#include "file-locks.h"

static char path_r[64], path_w[64];
static int fd_r = -1, fd_w = -1;

static int setup(void)
{
	fd_r = scratch_file(path_r, 16, O_RDONLY);
	fd_w = scratch_file(path_w, 16, O_RDONLY);
	if (fd_r < 0 || fd_w < 0)
		return -1;
	if (fcntl(fd_r, F_SETLEASE, F_RDLCK) || fcntl(fd_w, F_SETLEASE, F_WRLCK)) {
		perror("F_SETLEASE");
		return -1;
	}
	return 0;
}

static int check_locks(char *why, size_t whylen)
{
	int r = fcntl(fd_r, F_GETLEASE), w = fcntl(fd_w, F_GETLEASE);

	if (r != F_RDLCK || w != F_WRLCK)
		return FAILED("F_GETLEASE: %d and %d, want %d (read) and %d (write)", r, w,
			      F_RDLCK, F_WRLCK);
	if (fdinfo_locks(fd_r, "LEASE  ACTIVE    READ") != 1 ||
	    fdinfo_locks(fd_w, "LEASE  ACTIVE    WRITE") != 1)
		return FAILED("fdinfo does not show an active read and write lease");
	if (fcntl(fd_r, F_GETOWN) != getpid() || fcntl(fd_w, F_GETOWN) != getpid())
		return FAILED("fd owners %d and %d, want this process (%d)",
			      fcntl(fd_r, F_GETOWN), fcntl(fd_w, F_GETOWN), getpid());
	return 0;
}
