/*
 * mem.c - dump the address space: classify every VMA and save the pages
 * that only the process holds.
 *
 * Which pages (research/cr-engine.md §2b): pagemap tells for each page
 * whether it is present or swapped and whether it is a page-cache page of
 * the file.  Private anonymous memory and the copied-on-write pages of
 * private file mappings are saved; clean file pages come back from the file;
 * never-touched pages stay untouched.  A touched page that is all zero is
 * not stored: in anonymous memory it comes back untouched, in a private file
 * mapping as a zero run (the file's bytes would be wrong).  Shared anonymous
 * memory and memfds are dumped once per object by shmem.c; shared file
 * mappings live in their file.  Guard regions (MADV_GUARD_INSTALL) are seen
 * only in pagemap and recorded to be installed again.
 *
 * Pages are read with process_vm_readv in large batches; a mapping without
 * PROT_READ falls back to /proc/PID/mem, which reads through the protection.
 */
#define LOG_TAG "mem"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/lifeline.h"
#include "base/log.h"
#include "base/progress.h"
#include "engine-internal.h"
#include "fds.h"
#include "proc.h"
#include "shmem.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_GUARD (1ull << 58)

#define BATCH_PAGES 16384 /* 64 MiB of page data per read */

struct mem_dump {
	struct frozen *fz;
	struct image *img;
	int pagemap_fd;
	int mem_fd;
	const struct proc_map *last_file; /* the last VMA mapped from a file, and its index */
	int32_t last_file_idx;
	uint64_t *pm; /* pagemap entries of one batch */
	unsigned char *buf; /* page data of one batch */
};

static bool page_is_zero(const unsigned char *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	size_t i;

	for (i = 0; i < IMAGE_PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

static int read_pages(struct mem_dump *md, uint64_t addr, size_t npages)
{
	size_t len = npages * IMAGE_PAGE_SIZE;
	struct iovec local = { md->buf, len }, remote = { (void *)addr, len };
	ssize_t n = process_vm_readv(md->fz->pid, &local, 1, &remote, 1, 0);

	if (n == (ssize_t)len)
		return 0;
	/* unreadable protection, or a partial read: go through /proc/PID/mem */
	n = pread(md->mem_fd, md->buf, len, (off_t)addr);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0)
		return log_errno("pid %d: reading memory 0x%llx-0x%llx", md->fz->pid,
				 (unsigned long long)addr, (unsigned long long)(addr + len));
	log_error("pid %d: short read of memory 0x%llx-0x%llx", md->fz->pid,
		  (unsigned long long)addr, (unsigned long long)(addr + len));
	return -EIO;
}

/* Saves npages read into md->buf at addr, splitting off zero pages. */
static int save_pages(struct mem_dump *md, struct image_vma *v, uint64_t addr, size_t npages)
{
	bool zero_as_run = v->kind == IMAGE_VMA_FILE_PRIVATE;
	size_t i = 0;
	int ret;

	while (i < npages) {
		bool zero = page_is_zero(md->buf + i * IMAGE_PAGE_SIZE);
		size_t j = i + 1;

		while (j < npages && page_is_zero(md->buf + j * IMAGE_PAGE_SIZE) == zero)
			j++;
		if (zero) {
			v->pages_zero += j - i;
			if (zero_as_run) {
				ret = image_add_pages(md->img, addr + i * IMAGE_PAGE_SIZE, NULL,
						      (uint32_t)(j - i), IMAGE_RUN_ZERO);
				if (ret < 0)
					return ret;
			}
		} else {
			ret = image_add_pages(md->img, addr + i * IMAGE_PAGE_SIZE,
					      md->buf + i * IMAGE_PAGE_SIZE, (uint32_t)(j - i), 0);
			if (ret < 0)
				return ret;
			v->pages_dumped += j - i;
		}
		i = j;
	}
	return 0;
}

static int add_guard(struct image *img, uint64_t start, uint64_t end)
{
	struct image_guard *g;

	if (img->nr_guards && img->guards[img->nr_guards - 1].end == start) {
		img->guards[img->nr_guards - 1].end = end;
		return 0;
	}
	g = image_new_guard(img);
	if (!g)
		return -ENOMEM;
	g->start = start;
	g->end = end;
	return 0;
}

/* Walks pagemap over the VMA and saves the pages the process owns. */
static int dump_private_pages(struct mem_dump *md, struct image_vma *v)
{
	uint64_t addr = v->start;
	int ret;

	while (addr < v->end) {
		size_t npages = (size_t)((v->end - addr) / IMAGE_PAGE_SIZE), i = 0;
		ssize_t n;

		if (npages > BATCH_PAGES)
			npages = BATCH_PAGES;
		n = pread(md->pagemap_fd, md->pm, npages * 8, (off_t)(addr / IMAGE_PAGE_SIZE * 8));
		if (n != (ssize_t)(npages * 8))
			return log_errno("pid %d: reading pagemap at 0x%llx", md->fz->pid,
					 (unsigned long long)addr);
		while (i < npages) {
			uint64_t e = md->pm[i];
			size_t j;

			if (e & PM_GUARD) {
				ret = add_guard(md->img, addr + i * IMAGE_PAGE_SIZE,
						addr + (i + 1) * IMAGE_PAGE_SIZE);
				if (ret < 0)
					return ret;
			}
			/* a guard marker reads as swapped too: it holds no data */
			if (!(e & (PM_PRESENT | PM_SWAPPED)) || (e & (PM_FILE | PM_GUARD))) {
				if ((e & PM_FILE) && (e & PM_PRESENT))
					v->pages_file++;
				i++;
				continue;
			}
			for (j = i + 1; j < npages; j++) {
				uint64_t f = md->pm[j];

				if (!(f & (PM_PRESENT | PM_SWAPPED)) || (f & (PM_FILE | PM_GUARD)))
					break;
			}
			/* a fingerprint image (verify.c) takes the layout and guards, no pages */
			if (!image_takes_pages(md->img)) {
				i = j;
				continue;
			}
			ret = read_pages(md, addr + i * IMAGE_PAGE_SIZE, j - i);
			if (ret == 0)
				ret = save_pages(md, v, addr + i * IMAGE_PAGE_SIZE, j - i);
			progress_add((j - i) * IMAGE_PAGE_SIZE);
			if (ret < 0)
				return ret;
			i = j;
		}
		addr += npages * IMAGE_PAGE_SIZE;
	}
	return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static uint32_t madv_bits(uint32_t vmf)
{
	uint32_t m = 0;

	m |= (vmf & PROC_VMF_DC) ? IMAGE_MADV_DONTFORK : 0;
	m |= (vmf & PROC_VMF_DD) ? IMAGE_MADV_DONTDUMP : 0;
	m |= (vmf & PROC_VMF_WF) ? IMAGE_MADV_WIPEONFORK : 0;
	m |= (vmf & PROC_VMF_HG) ? IMAGE_MADV_HUGEPAGE : 0;
	m |= (vmf & PROC_VMF_NH) ? IMAGE_MADV_NOHUGEPAGE : 0;
	m |= (vmf & PROC_VMF_MG) ? IMAGE_MADV_MERGEABLE : 0;
	m |= (vmf & PROC_VMF_SR) ? IMAGE_MADV_SEQUENTIAL : 0;
	m |= (vmf & PROC_VMF_RR) ? IMAGE_MADV_RANDOM : 0;
	return m;
}

/* Decides what a VMA is and records the files and objects behind it. */
static int classify(struct mem_dump *md, const struct proc_map *m, struct image_vma *v)
{
	pid_t pid = md->fz->pid;
	char path[96];
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	v->file = -1;
	v->shmem = -1;
	if (m->vmflags & (PROC_VMF_IO | PROC_VMF_PF)) {
		if (strcmp(m->name, "[vvar]") && strcmp(m->name, "[vvar_vclock]")) {
			log_error("pid %d: mapping 0x%llx-0x%llx (%s) is device memory: cannot dump it",
				  pid, (unsigned long long)m->start, (unsigned long long)m->end,
				  m->name);
			return -ENOTSUP;
		}
	}
	if (m->vmflags & PROC_VMF_SL) {
		log_error("pid %d: mapping 0x%llx-0x%llx (%s) is sealed (mseal): not supported",
			  pid, (unsigned long long)m->start, (unsigned long long)m->end, m->name);
		return -ENOTSUP;
	}
	if (m->vmflags & (PROC_VMF_HT | PROC_VMF_SS)) {
		log_error("pid %d: mapping 0x%llx-0x%llx (%s) is %s: not supported", pid,
			  (unsigned long long)m->start, (unsigned long long)m->end, m->name,
			  (m->vmflags & PROC_VMF_HT) ? "hugetlbfs memory" : "a shadow stack");
		return -ENOTSUP;
	}
	if (!strcmp(m->name, "[vdso]"))
		v->kind = IMAGE_VMA_VDSO;
	else if (!strcmp(m->name, "[vvar]"))
		v->kind = IMAGE_VMA_VVAR;
	else if (!strcmp(m->name, "[vvar_vclock]"))
		v->kind = IMAGE_VMA_VVAR_VCLOCK;
	else if (!strcmp(m->name, "[vsyscall]"))
		v->kind = IMAGE_VMA_VSYSCALL;
	else if (m->is_shared && m->ino &&
		 (starts_with(m->name, "/memfd:") || starts_with(m->name, "[anon_shmem:") ||
		  (m->is_deleted && !strcmp(m->name, "/dev/zero")) ||
		  starts_with(m->name, IMAGE_SHMEM_DEV_SHM) || starts_with(m->name, "/SYSV"))) {
		v->kind = IMAGE_VMA_SHMEM;
		ret = shmem_dump(md->img, pid, path, m->ino);
		if (ret < 0)
			return ret;
		v->shmem = ret;
	} else if (!m->is_shared && m->ino && starts_with(m->name, "/memfd:")) {
		/* a private mapping of a memfd: copy-on-write over the memfd itself */
		v->kind = IMAGE_VMA_FILE_PRIVATE;
		ret = shmem_dump(md->img, pid, path, m->ino);
		if (ret < 0)
			return ret;
		v->shmem = ret;
	} else if (m->ino == 0) {
		v->kind = IMAGE_VMA_ANON;
	} else {
		v->kind = m->is_shared ? IMAGE_VMA_FILE_SHARED : IMAGE_VMA_FILE_PRIVATE;
		/* a library is mapped 4 or 5 times in a row: one stat of it will do */
		if (md->last_file && md->last_file->ino == m->ino &&
		    md->last_file->dev_major == m->dev_major &&
		    md->last_file->dev_minor == m->dev_minor &&
		    md->last_file->is_deleted == m->is_deleted && !strcmp(md->last_file->name, m->name)) {
			v->file = md->last_file_idx;
			return 0;
		}
		ret = files_add(md->img, pid, path, m->name, m->is_deleted);
		if (ret < 0)
			return ret;
		v->file = ret;
		md->last_file = m;
		md->last_file_idx = ret;
	}
	return 0;
}

int mem_dump(struct frozen *fz, struct image *img)
{
	struct mem_dump md = { .fz = fz, .img = img, .pagemap_fd = -1, .mem_fd = -1 };
	struct proc_map *maps = NULL;
	size_t n = 0, i;
	char path[64];
	int ret;

	ret = proc_read_smaps(fz->pid, &maps, &n);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", fz->pid);
	md.pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", fz->pid);
	md.mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (md.pagemap_fd < 0 || md.mem_fd < 0) {
		ret = log_errno("pid %d: opening pagemap and mem", fz->pid);
		goto out;
	}
	md.pm = malloc(BATCH_PAGES * 8);
	md.buf = mmap(NULL, (size_t)BATCH_PAGES * IMAGE_PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!md.pm || md.buf == MAP_FAILED) {
		md.buf = NULL;
		ret = -ENOMEM;
		goto out;
	}
	/* what will be read, about: the anonymous and swapped pages of private mappings */
	for (i = 0; i < n && image_takes_pages(img); i++)
		if (!maps[i].is_shared)
			progress_more((maps[i].anon_kb + maps[i].swap_kb) << 10);
	for (i = 0; i < n; i++) {
		const struct proc_map *m = &maps[i];
		struct image_vma *v;

		/* the kernel puts [vsyscall] in every process at a fixed address */
		if (!strcmp(m->name, "[vsyscall]"))
			continue;
		v = image_new_vma(img);
		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		v->start = m->start;
		v->end = m->end;
		v->prot = m->prot;
		v->pgoff = m->pgoff;
		v->madv = madv_bits(m->vmflags);
		v->flags = ((m->vmflags & PROC_VMF_GD) ? IMAGE_VMA_GROWSDOWN : 0) |
			   ((m->vmflags & PROC_VMF_LO) ? IMAGE_VMA_LOCKED : 0) |
			   ((m->vmflags & PROC_VMF_NR) ? IMAGE_VMA_NORESERVE : 0) |
			   (m->is_shared ? IMAGE_VMA_MAYSHARE : 0) |
			   ((m->is_shared && (m->vmflags & PROC_VMF_MW)) ? IMAGE_VMA_MAYWRITE : 0) |
			   ((m->vmflags & PROC_VMF_DP) ? IMAGE_VMA_DROPPABLE : 0) |
			   ((m->vmflags & PROC_VMF_LF) ? IMAGE_VMA_LOCKONFAULT : 0);
		v->name = strdup(m->name);
		if (!v->name) {
			ret = -ENOMEM;
			goto out;
		}
		ret = classify(&md, m, v);
		if (ret < 0)
			goto out;
		if (v->kind != IMAGE_VMA_FILE_SHARED) /* only a file's open mode limits mprotect */
			v->flags &= ~IMAGE_VMA_MAYWRITE;
		if (v->kind != IMAGE_VMA_ANON && v->kind != IMAGE_VMA_FILE_PRIVATE)
			continue;
		/*
		 * smaps already says when nothing is resident or swapped; large
		 * empty reservations (allocator arenas, CUDA's VA range) are not
		 * walked page by page.  Small ones are, for their guard regions.
		 */
		if (m->has_smaps && !m->rss_kb && !m->swap_kb && m->end - m->start > (64u << 20))
			continue;
		ret = lifeline_check(); /* a big dump gives up soon once its command is gone */
		if (ret == 0)
			ret = dump_private_pages(&md, v);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	if (md.buf)
		munmap(md.buf, (size_t)BATCH_PAGES * IMAGE_PAGE_SIZE);
	free(md.pm);
	if (md.pagemap_fd >= 0)
		close(md.pagemap_fd);
	if (md.mem_fd >= 0)
		close(md.mem_fd);
	proc_maps_free(maps, n);
	return ret;
}
