/*
 * test-store.c - unit tests of the store layer: the chunk codec and its
 * checks, the content-defined cutter, the manifest reader's bounds, the RAM
 * LRU (and threads sharing it), a disk store round trip with a corrupted copy, and the store as the
 * engine's page source (pages written into another process, bad runs, a
 * missing file, a corrupted chunk).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/crc32c.h"
#include "store/store-internal.h"
#include "repo/repo.h"
#include "store/store-snap.h"

static uint8_t *random_bytes(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void test_codec(void **state)
{
	static const int codecs[] = { STORE_CODEC_NONE, STORE_CODEC_LZ4, STORE_CODEC_ZSTD };
	struct store_key key = { { 1, 2, 3 } }, wrong = { { 9 } };
	size_t len = 100000, i, k;
	uint8_t *plain = random_bytes(len, 1), *out = malloc(len);
	struct store_chunk_ref ref = { .len = (uint32_t)len };
	struct store_buf enc = { 0 };
	const char *why;

	(void)state;
	memset(plain, 0, len / 2); /* compressible half */
	store_sha256(plain, len, &ref.digest);
	for (k = 0; k < 2; k++) {
		const struct store_key *kp = k ? &key : NULL;

		ref.flags = k ? STORE_CHUNK_ENCRYPTED : 0;
		for (i = 0; i < 3; i++) {
			assert_int_equal(store_chunk_encode(kp, codecs[i], 1, &ref, plain, &enc), 0);
			memset(out, 0xaa, len);
			assert_int_equal(store_chunk_decode(kp, &ref, enc.data, enc.len, out, true, &why), 0);
			assert_memory_equal(out, plain, len);
			/* a flipped byte anywhere, a truncation: refused */
			enc.data[enc.len / 2] ^= 1;
			assert_int_equal(store_chunk_decode(kp, &ref, enc.data, enc.len, out, true, &why),
					 -EBADMSG);
			enc.data[enc.len / 2] ^= 1;
			enc.data[3] ^= 1;
			assert_int_equal(store_chunk_decode(kp, &ref, enc.data, enc.len, out, true, &why),
					 -EBADMSG);
			enc.data[3] ^= 1;
			assert_int_equal(store_chunk_decode(kp, &ref, enc.data, enc.len - 1, out, true, &why),
					 -EBADMSG);
			assert_int_equal(store_chunk_decode(kp, &ref, enc.data, 10, out, true, &why), -EBADMSG);
			if (k) {
				assert_int_equal(store_chunk_decode(&wrong, &ref, enc.data, enc.len, out,
								    true, &why),
						 -EKEYREJECTED);
				assert_int_equal(store_chunk_decode(NULL, &ref, enc.data, enc.len, out,
								    true, &why),
						 -ENOKEY);
			}
		}
	}
	/*
	 * A copy read back from a local tier is not rehashed: its crc catches a
	 * flipped byte in every codec, a plain body included (which the rehash
	 * would otherwise check).
	 */
	ref.flags = 0;
	for (i = 0; i < 3; i++) {
		assert_int_equal(store_chunk_encode(NULL, codecs[i], 1, &ref, plain, &enc), 0);
		assert_int_equal(store_chunk_decode(NULL, &ref, enc.data, enc.len, out, false, &why),
				 0);
		assert_memory_equal(out, plain, len);
		enc.data[enc.len - 7] ^= 0x10;
		assert_int_equal(store_chunk_decode(NULL, &ref, enc.data, enc.len, out, false, &why),
				 -EBADMSG);
		assert_string_equal(why, "crc mismatch");
	}
	/*
	 * Bytes whose crc was recomputed to match (someone who can write the
	 * store): only the rehash catches them; a local tier is trusted by its
	 * owner and mode checks instead (docs/store.md, "Trust").
	 */
	assert_int_equal(store_chunk_encode(NULL, STORE_CODEC_NONE, 1, &ref, plain, &enc), 0);
	enc.data[enc.len - 7] ^= 0x10;
	put32le(enc.data + 16, crc32c(enc.data + 24, enc.len - 24));
	put32le(enc.data + 20, crc32c(enc.data, 20));
	assert_int_equal(store_chunk_decode(NULL, &ref, enc.data, enc.len, out, false, &why), 0);
	assert_int_equal(store_chunk_decode(NULL, &ref, enc.data, enc.len, out, true, &why),
			 -EBADMSG);
	assert_string_equal(why, "SHA-256 mismatch");
	/* a chunk whose bytes are fine but whose digest is not the manifest's */
	assert_int_equal(store_chunk_encode(NULL, STORE_CODEC_LZ4, 1, &ref, plain, &enc), 0);
	ref.digest.b[0] ^= 1;
	assert_int_equal(store_chunk_decode(NULL, &ref, enc.data, enc.len, out, true, &why),
			 -EBADMSG);
	store_buf_release(&enc);
	free(plain);
	free(out);
}

/* Cut points depend on content only: data shifted by whole pages cuts the same. */
static void test_cut_shift(void **state)
{
	size_t avg = 64 << 10, len = 8 << 20, shift = 5 * STORE_PAGE, off, n, same = 0;
	uint8_t *data = random_bytes(len + shift, 7);
	size_t cuts_a[1024], na = 0, i;

	(void)state;
	for (off = shift; off < len + shift; off += n) {
		n = store_cut_next(data + off, len + shift - off, avg);
		assert_true(n > 0 && n <= 4 * avg);
		cuts_a[na++] = off;
	}
	for (off = 0; off < len + shift; off += n) {
		n = store_cut_next(data + off, len + shift - off, avg);
		for (i = 0; i < na; i++)
			if (cuts_a[i] == off)
				same++;
	}
	assert_true(same + 3 >= na); /* resynchronised after at most a few chunks */
	/* zero pages are cut apart from data */
	memset(data + 3 * STORE_PAGE, 0, 20 * STORE_PAGE);
	assert_int_equal(store_cut_next(data, len, avg), 3 * STORE_PAGE);
	assert_int_equal(store_cut_next(data + 3 * STORE_PAGE, len, avg), 20 * STORE_PAGE);
	assert_true(store_is_zero(data + 3 * STORE_PAGE, 20 * STORE_PAGE));
	assert_false(store_is_zero(data, STORE_PAGE));
	free(data);
}

static void test_manifest_bounds(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"format\":2,\"created\":0,\"files\":[]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"../x\",\"size\":0,\"mode\":384,\"chunks\":[]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a/b/c\",\"size\":0,\"mode\":384,\"chunks\":[]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"/a\",\"size\":0,\"mode\":384,\"chunks\":[]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a/\",\"size\":0,\"mode\":384,\"chunks\":[]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"proc-1/..\",\"size\":0,\"mode\":384,\"chunks\":[]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a\",\"size\":5,\"mode\":384,\"chunks\":[]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a\",\"size\":4096,\"mode\":384,\"chunks\":[[\"zz\",4096,0]]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a\",\"size\":4096,\"mode\":384,\"chunks\":[[null,4096,0]]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a\",\"size\":99999999,\"mode\":384,\"chunks\":[[null,99999999,1]]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a\",\"size\":4096,\"mode\":384,\"chunks\":[[null,4096,5]]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a\",\"size\":0,\"mode\":384,\"chunks\":[]},{\"name\":\"a\",\"size\":0,\"mode\":384,\"chunks\":[]}]}",
		"{\"format\":1,\"created\":0,\"files\":[{\"name\":\"a\",\"size\":0,\"mode\":99999,\"chunks\":[]}]}",
	};
	struct store_chunk_ref chunks[2] = { { .len = 4096, .flags = STORE_CHUNK_ZERO },
					     { .off = 4096, .len = 100 } };
	struct store_file f = { .name = "pages.img", .size = 4196, .mode = 0600, .nr_chunks = 2,
				.chunks = chunks };
	struct store_manifest m = { .nr_files = 1, .files = &f, .created = 42 }, *got = NULL;
	struct store_buf b = { 0 };
	size_t i;

	(void)state;
	chunks[1].digest.b[5] = 7;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		got = NULL;
		assert_int_not_equal(store_manifest_decode("test", bad[i], strlen(bad[i]), &got), 0);
		assert_null(got);
	}
	assert_int_equal(store_manifest_encode(&m, &b), 0);
	assert_int_equal(store_manifest_decode("test", b.data, b.len, &got), 0);
	assert_int_equal(got->nr_files, 1);
	assert_string_equal(got->files[0].name, "pages.img");
	assert_int_equal(got->files[0].nr_chunks, 2);
	assert_int_equal(got->files[0].chunks[1].off, 4096);
	assert_memory_equal(&got->files[0].chunks[1].digest, &chunks[1].digest, 32);
	store_manifest_free(got);
	store_buf_release(&b);
	assert_false(store_name_valid("../x"));
	assert_false(store_name_valid(".hidden"));
	assert_false(store_name_valid("a/b"));
	assert_true(store_name_valid("torch-worker:v1"));
}

static void test_ram_lru(void **state)
{
	struct store_ram *r = store_ram_new(3000);
	uint8_t a[1000] = { 1 }, out[1000];

	(void)state;
	store_ram_put(r, "a", a, sizeof(a));
	store_ram_put(r, "b", a, sizeof(a));
	store_ram_put(r, "c", a, sizeof(a));
	assert_true(store_ram_get(r, "a", out, sizeof(out))); /* a is now the newest */
	store_ram_put(r, "d", a, sizeof(a)); /* evicts b */
	assert_false(store_ram_get(r, "b", out, sizeof(out)));
	assert_true(store_ram_get(r, "a", out, sizeof(out)));
	assert_true(store_ram_get(r, "d", out, sizeof(out)));
	assert_memory_equal(out, a, sizeof(a));
	store_ram_free(r);
}

/* Threads sharing one RAM tier (as a restore's do): puts, gets and evictions racing. */
struct ram_racer {
	struct store_ram *r;
	unsigned seed, hits, bad;
};

static void *ram_race(void *arg)
{
	struct ram_racer *x = arg;
	uint8_t data[4096], out[4096];
	int i;

	for (i = 0; i < 20000; i++) {
		char id[16];
		unsigned k;

		x->seed = x->seed * 1103515245u + 12345u;
		k = (x->seed >> 16) % 64;
		snprintf(id, sizeof(id), "%u", k);
		memset(data, (int)k, sizeof(data));
		if (store_ram_get(x->r, id, out, sizeof(out))) {
			x->hits++;
			x->bad += memcmp(out, data, sizeof(out)) != 0;
		} else {
			store_ram_put(x->r, id, data, sizeof(data));
		}
	}
	return NULL;
}

static void test_ram_threads(void **state)
{
	struct store_ram *r = store_ram_new(16 * 4096); /* a quarter of the ids: evictions */
	struct ram_racer x[4];
	pthread_t t[4];
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		x[i] = (struct ram_racer){ .r = r, .seed = (unsigned)i + 1 };
		assert_int_equal(pthread_create(&t[i], NULL, ram_race, &x[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(x[i].hits > 0);
		assert_int_equal(x[i].bad, 0);
	}
	store_ram_free(r);
	/* every handle of a process gets the same tier, with the largest limit asked */
	assert_ptr_equal(store_ram_shared(1 << 20), store_ram_shared(2 << 20));
}

static void test_disk_roundtrip(void **state)
{
	char dir[] = "/tmp/test-store-XXXXXX", path[4200], id[STORE_ID_MAX];
	struct store_config cfg;
	struct store_file f = { .name = "pages.img" };
	struct store *s;
	size_t len = 3 << 20;
	uint8_t *data = random_bytes(len, 3), *back = malloc(len);
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(data + (1 << 20), 0, 1 << 20);
	store_config_init(&cfg);
	cfg.dir = dir;
	cfg.chunk_avg = 64 << 10;
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_put_buf(s, &f, data, len), 0);
	assert_int_equal(f.size, len);
	assert_int_equal(store_read_file(s, &f, 0, back, len), 0);
	assert_memory_equal(back, data, len);
	/* an unaligned window across chunks */
	assert_int_equal(store_read_file(s, &f, 12345, back, 300000), 0);
	assert_memory_equal(back, data + 12345, 300000);
	/* corrupt the first chunk on disk: the read fails, naming it, and the copy is gone */
	store_object_id(s, &f.chunks[0], id);
	snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", dir, id, id);
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, 40, SEEK_SET);
	fputc(0x5a, fp);
	fclose(fp);
	assert_int_not_equal(store_read_file(s, &f, 0, back, 1000), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	/* stored again, it reads again */
	free(f.chunks);
	f.chunks = NULL;
	f.nr_chunks = 0;
	f.size = 0;
	assert_int_equal(store_put_buf(s, &f, data, len), 0);
	assert_int_equal(store_read_file(s, &f, 0, back, len), 0);
	assert_memory_equal(back, data, len);
	store_close(s);
	free(f.chunks);
	free(data);
	free(back);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

/* A child holding len bytes of fresh anonymous memory at *addr until it is killed. */
static pid_t memory_child(size_t len, uint64_t *addr)
{
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t a = p == MAP_FAILED ? 0 : (uint64_t)(uintptr_t)p;

		if (write(fds[1], &a, sizeof(a)) != sizeof(a))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], addr, sizeof(*addr)), sizeof(*addr));
	close(fds[0]);
	assert_true(*addr != 0);
	return pid;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/*
 * Opens snapshot t for a restore and lets it fill proc through the
 * repository's page source (repo-pages.c); returns fill's result.
 */
static int fill_one(const struct store_config *cfg, const char *parent,
		    const struct page_fill_proc *proc)
{
	struct store_snap_restore *r;
	struct repo_pages pg;
	int rc;

	assert_int_equal(store_snap_restore_open(cfg, "t", parent, &r), 0);
	repo_pages_init(&pg, r);
	rc = pg.source.start(pg.source.arg);
	if (!rc)
		rc = pg.source.fill(pg.source.arg, proc, 1);
	store_snap_restore_close(r);
	return rc;
}

static void test_page_source(void **state)
{
	enum { HDR = 4096 };
	char dir[] = "/tmp/test-store-XXXXXX", path[4200], store[4200], id[STORE_ID_MAX];
	size_t len = 1 << 20, half = len / 2;
	uint8_t *data = random_bytes(HDR + len, 5), *back = calloc(1, len), zero[4096] = { 0 };
	struct store_config cfg;
	struct store_manifest *m;
	struct store_digest d;
	struct store *s;
	uint64_t addr;
	pid_t child;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/snap", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/snap/pages.img", dir);
	write_file(path, data, HDR + len);
	snprintf(path, sizeof(path), "%s/snap/manifest.json", dir);
	write_file(path, "{}\n", 3);
	store_config_init(&cfg);
	snprintf(store, sizeof(store), "%s/store", dir);
	cfg.dir = store;
	cfg.chunk_avg = 64 << 10;
	assert_int_equal(store_open(&cfg, &s), 0);
	snprintf(path, sizeof(path), "%s/snap", dir);
	assert_int_equal(store_put_dir(s, path, "t", &d), 0);
	child = memory_child(len, &addr);

	/* two runs with a page between them that no run covers: it stays zero */
	{
		struct page_fill_run runs[] = {
			{ HDR, addr, half },
			{ HDR + half + 4096, addr + half + 4096, len - half - 4096 },
		};
		struct page_fill_proc proc = { child, "pages.img", runs, 2 };
		struct iovec l = { back, len }, rm = { (void *)(uintptr_t)addr, len };

		assert_int_equal(fill_one(&cfg, dir, &proc), 0);
		assert_int_equal(process_vm_readv(child, &l, 1, &rm, 1, 0), (ssize_t)len);
		assert_memory_equal(back, data + HDR, half);
		assert_memory_equal(back + half, zero, 4096);
		assert_memory_equal(back + half + 4096, data + HDR + half + 4096, len - half - 4096);
	}
	/* a run beyond the end of the file, a file the snapshot lacks: clear errors */
	{
		struct page_fill_run past = { HDR + len - 4096, addr, 8192 };
		struct page_fill_proc proc = { child, "pages.img", &past, 1 };
		struct page_fill_proc other = { child, "proc-9/pages.img", &past, 0 };

		assert_int_equal(fill_one(&cfg, dir, &proc), -EINVAL);
		assert_int_equal(fill_one(&cfg, dir, &other), -ENOENT);
	}
	/* a corrupted chunk in the middle of the pages: the fill fails */
	{
		struct page_fill_run run = { HDR, addr, len };
		struct page_fill_proc proc = { child, "pages.img", &run, 1 };
		uint32_t mid;
		int c;

		assert_int_equal(store_manifest_get(s, &d, &m), 0);
		assert_true(m->nr_files >= 1);
		mid = strcmp(m->files[0].name, "pages.img") ? 1 : 0;
		assert_true(m->files[mid].nr_chunks > 2);
		store_object_id(s, &m->files[mid].chunks[m->files[mid].nr_chunks / 2], id);
		store_manifest_free(m);
		snprintf(path, sizeof(path), "%s/store/chunks/%.2s/%s", dir, id, id);
		fp = fopen(path, "r+b");
		assert_non_null(fp);
		fseek(fp, 100, SEEK_SET);
		c = fgetc(fp);
		fseek(fp, 100, SEEK_SET);
		fputc(c ^ 0x5a, fp);
		fclose(fp);
		assert_int_not_equal(fill_one(&cfg, dir, &proc), 0);
	}
	store_close(s);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	free(data);
	free(back);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_cut_shift),
		cmocka_unit_test(test_manifest_bounds),
		cmocka_unit_test(test_ram_lru),
		cmocka_unit_test(test_ram_threads),
		cmocka_unit_test(test_disk_roundtrip),
		cmocka_unit_test(test_page_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
