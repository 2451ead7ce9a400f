/*
 * fuzz-image.c - fuzz target for the manifest reader, image_manifest_from_json().
 *
 * The manifest is the one part of a snapshot that is parsed as structure, so
 * it is where hostile bytes have the most room.  With libFuzzer:
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz-image.c src/image/image*.c src/base/log.c -ljansson
 * seeds in tests/fuzz/corpus/image/.  With -DFUZZ_STANDALONE it has its own
 * main(): the files named on the command line are run once each; with none,
 * every truncation and a deterministic set of byte mutations of a built-in
 * valid manifest are run, then the seeds in tests/fuzz/corpus/image/ when run
 * from the repository root.  It exits 0 when nothing crashed.
 *
 * Beyond "no crash", an accepted manifest must hold what the reader promises:
 * it validates, and encoding it and reading it back gives the same text.
 * A broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct image *img)
{
	struct image *again = calloc(1, sizeof(*again));
	char err[256], *json, *json2;

	if (!again)
		return;
	if (img->nr_threads < 1 || img->threads[0].tid != img->proc.pid)
		abort();
	json = image_manifest_to_json(img, 0);
	if (!json) /* only on ENOMEM */
		goto out;
	if (image_manifest_from_json(again, json, strlen(json), err, sizeof(err)))
		abort(); /* thaw must read back what it writes */
	json2 = image_manifest_to_json(again, 0);
	if (json2 && strcmp(json, json2))
		abort();
	free(json2);
	free(json);
out:
	image_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees a read one byte past the input */
	char *text = malloc(size ? size : 1), err[256];
	struct image *img = calloc(1, sizeof(*img));
	int ret;

	if (!text || !img)
		goto out;
	memcpy(text, data, size);
	err[0] = '\0';
	ret = image_manifest_from_json(img, text, size, err, sizeof(err));
	if (ret == 0)
		check_accepted(img);
	else if (ret > 0 || !err[0] || !memchr(err, '\0', sizeof(err)))
		abort(); /* a refusal always says why */
out:
	image_free(img);
	free(text);
	return 0;
}

#ifdef FUZZ_STANDALONE

#include <dirent.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* a small but complete manifest: every section, most fd kinds */
static const char sample[] =
	"{\"format\":\"thaw-snapshot\",\"version\":" STR(IMAGE_FORMAT_VERSION) ",\"host\":{\"kernel_release\":\"6.18.0\",\"cpuid\":[\"0x"
	"0\",\"0x0\",\"0x0\",\"0x0\",\"0x0\",\"0x0\",\"0x0\",\"0x0\"],\"xcr0\":\"0x2e7\",\"xsave_size\":2696,\"vvar"
	"_size\":16384,\"vvar_vclock_size\":0,\"vdso_size\":8192,\"vdso_crc\":\"0x0\"},\"process\":{\"pid"
	"\":2,\"ppid\":1,\"pgid\":2,\"sid\":1,\"host_pid\":4000,\"comm\":\"prog\",\"umask\":\"022\",\"personali"
	"ty\":\"0x0\",\"cwd\":\"/\",\"exe\":0,\"mm\":{\"start_code\":\"0x0\",\"end_code\":\"0x0\",\"start_data\":\""
	"0x0\",\"end_data\":\"0x0\",\"start_brk\":\"0x0\",\"brk\":\"0x0\",\"start_stack\":\"0x0\",\"arg_start\":"
	"\"0x0\",\"arg_end\":\"0x0\",\"env_start\":\"0x0\",\"env_end\":\"0x0\"},\"auxv\":{\"off\":0,\"len\":352,\""
	"crc\":\"0x1234\"},\"rlimits\":{\"cpu\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},\"fsize\":{\"cur\""
	":\"unlimited\",\"max\":\"unlimited\"},\"data\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},\"stack\""
	":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},\"core\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},"
	"\"rss\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},\"nproc\":{\"cur\":\"unlimited\",\"max\":\"unlimi"
	"ted\"},\"nofile\":{\"cur\":1024,\"max\":4096},\"memlock\":{\"cur\":\"unlimited\",\"max\":\"unlimited"
	"\"},\"as\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},\"locks\":{\"cur\":\"unlimited\",\"max\":\"unli"
	"mited\"},\"sigpending\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},\"msgqueue\":{\"cur\":\"unlimi"
	"ted\",\"max\":\"unlimited\"},\"nice\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"},\"rtprio\":{\"cur\""
	":\"unlimited\",\"max\":\"unlimited\"},\"rttime\":{\"cur\":\"unlimited\",\"max\":\"unlimited\"}},\"sig"
	"actions\":[{\"signal\":15,\"handler\":\"0x401100\",\"flags\":\"0x4000000\",\"restorer\":\"0x0\",\"ma"
	"sk\":\"0x0\"}],\"itimers\":{\"real\":{\"interval_us\":0,\"value_us\":0},\"virtual\":{\"interval_us"
	"\":0,\"value_us\":0},\"prof\":{\"interval_us\":0,\"value_us\":0}},\"dumped_at_ns\":0},\"threads\""
	":[{\"tid\":2,\"comm\":\"prog\",\"state\":\"syscall-restart\",\"syscall_nr\":230,\"regs\":{\"r15\":\"0"
	"x0\",\"r14\":\"0x0\",\"r13\":\"0x0\",\"r12\":\"0x0\",\"rbp\":\"0x0\",\"rbx\":\"0x0\",\"r11\":\"0x0\",\"r10\":\"0"
	"x0\",\"r9\":\"0x0\",\"r8\":\"0x0\",\"rax\":\"0x0\",\"rcx\":\"0x0\",\"rdx\":\"0x0\",\"rsi\":\"0x0\",\"rdi\":\"0x0"
	"\",\"orig_rax\":\"0x0\",\"rip\":\"0x401000\",\"cs\":\"0x0\",\"eflags\":\"0x0\",\"rsp\":\"0x7ffd0000\",\"ss"
	"\":\"0x0\",\"fs_base\":\"0x0\",\"gs_base\":\"0x0\",\"ds\":\"0x0\",\"es\":\"0x0\",\"fs\":\"0x0\",\"gs\":\"0x0\"}"
	",\"xsave\":{\"off\":352,\"len\":2696,\"crc\":\"0xabcdef\"},\"sigmask\":\"0x0\",\"clear_child_tid\":\""
	"0x0\",\"robust_list\":\"0x0\",\"robust_list_len\":0,\"rseq\":{\"abi\":\"0x0\",\"len\":0,\"sig\":\"0x0\""
	",\"flags\":\"0x0\"},\"altstack\":{\"sp\":\"0x0\",\"size\":0,\"flags\":\"0x0\"},\"attrs\":{\"poli"
	"cy\":\"other\",\"nice\":0,\"ioprio\":\"0x0\",\"timerslack_ns\":50000},"
	"\"creds\":{\"uid\":1000,\"euid\":1000,\"suid\":1000,\"fsuid\":1000,\"gid\":100,\"egid\":100,"
	"\"sgid\":100,\"fsgid\":100,\"groups\":[27,100],\"cap_inh\":\"0x0\",\"cap_prm\":\"0x400\",\"cap_e"
	"ff\":\"0x400\",\"cap_bnd\":\"0x1ffffffffff\",\"cap_amb\":\"0x0\",\"securebits\":\"0x10\",\"no_new_p"
	"rivs\":true,\"seccomp\":[0]}}],\"vmas\":[{\"start\":\"0"
	"x400000\",\"end\":\"0x401000\",\"prot\":\"r-x\",\"kind\":\"file-private\",\"flags\":[],\"madvise\":[]"
	",\"pgoff\":\"0x0\",\"file\":0,\"name\":\"/usr/bin/prog\",\"pages\":{\"dumped\":0,\"zero\":0,\"file\":1"
	"}},{\"start\":\"0x7f0000000000\",\"end\":\"0x7f0000010000\",\"prot\":\"rw-\",\"kind\":\"shmem\",\"fla"
	"gs\":[\"mayshare\"],\"madvise\":[],\"pgoff\":\"0x0\",\"shmem\":0,\"pages\":{\"dumped\":0,\"zero\":0,\""
	"file\":0}},{\"start\":\"0x7ffcfffe0000\",\"end\":\"0x7ffd00001000\",\"prot\":\"rw-\",\"kind\":\"anon"
	"\",\"flags\":[\"growsdown\"],\"madvise\":[],\"pgoff\":\"0x0\",\"name\":\"[stack]\",\"pages\":{\"dumped"
	"\":3,\"zero\":0,\"file\":0}}],\"guards\":[],\"fds\":[{\"fd\":0,\"kind\":\"inherit\",\"flags\":\"00\",\"c"
	"loexec\":false,\"pos\":0,\"inherit\":{\"from\":0}},{\"fd\":3,\"kind\":\"pipe\",\"flags\":\"00\",\"cloe"
	"xec\":false,\"pos\":0,\"pipe\":{\"ino\":77,\"end\":\"read\",\"capacity\":65536,\"data\":{\"off\":7144"
	",\"len\":5,\"crc\":\"0x99\"}}},{\"fd\":4,\"kind\":\"epoll\",\"flags\":\"00\",\"cloexec\":false,\"pos\":0"
	",\"epoll\":{\"watches\":[{\"fd\":3,\"events\":\"0x1\",\"data\":\"0x0\"}]}},{\"fd\":5,\"kind\":\"memfd\","
	"\"flags\":\"00\",\"cloexec\":false,\"pos\":0,\"memfd\":{\"shmem\":0}},{\"fd\":6,\"kind\":\"file\",\"fla"
	"gs\":\"00\",\"cloexec\":false,\"pos\":100,\"file\":0}],\"files\":[{\"path\":\"/usr/bin/prog\",\"size"
	"\":14328,\"mtime_ns\":1700000000000000000,\"ino\":1234,\"dev\":\"0x803\",\"mode\":\"0100755\",\"rd"
	"ev\":\"0x0\",\"is_deleted\":false}],\"shmems\":[{\"ino\":5,\"size\":65536,\"memfd\":true,\"name\":\"buf"
	"\",\"seals\":\"0x0\",\"extents\":[{\"off\":0,\"data\":{\"off\":3048,\"len\":4096,\"crc\":\"0x55\"}}]}],"
	"\"creds\":{\"dumpable\":1},\"job_control\":{},\"ctty\":{},\"root\":{},\"seccomp_filters\":[{\"log\":tr"
	"ue,\"prog\":{\"off\":0,\"len\":8,\"crc\":\"0x1\"}}],"
	"\"attrs\":{\"oom_score_adj\":0,\"coredump_filter\":\"0x33\",\"loginuid\":4294967295},"
	"\"parts\":{\"id\":\"00112233445566778899aabbccddeeff\",\"files\":[{\"name\":\"pages.idx\",\"s"
	"ize\":80,\"sha256\":\"00000000000000000000000000000000000000000000000000000000000000ff\"},{\"n"
	"ame\":\"pages.img\",\"size\":16384,\"sha256\":\"0101010101010101010101010101010101010101010101"
	"010101010101010101\"},{\"name\":\"data.img\",\"size\":7149,\"sha256\":\"0202020202020202020202"
	"020202020202020202020202020202020202020202\"}]},"
	"\"pages\":{\"runs\":1,\"bytes\":12288}}";

/* Bytes that steer a JSON reader: structure, quotes, escapes, digits, hex. */
static const char interesting[] = { '{', '}', '[', ']', '"', ':', ',', '\\', '0', '9',
				    'x', 'f', '-', 'e', '\0', '\xff' };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, len = 0, n;
	char *buf = malloc(cap);

	if (!f || !buf) {
		fprintf(stderr, "fuzz-image: cannot read %s\n", path);
		if (f)
			fclose(f);
		free(buf);
		return 1;
	}
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *p = realloc(buf, cap * 2);

			if (!p)
				break;
			buf = p;
			cap *= 2;
		}
	}
	fclose(f);
	LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
	free(buf);
	return 0;
}

static size_t run_builtin(void)
{
	size_t len = sizeof(sample) - 1, runs = 0, i, k;
	char *buf = malloc(len + 64);

	if (!buf)
		return 0;
	/* the sample itself must be accepted, or the mutations test nothing */
	{
		struct image *img = calloc(1, sizeof(*img));
		char err[256];

		if (!img || image_manifest_from_json(img, sample, len, err, sizeof(err))) {
			fprintf(stderr, "fuzz-image: built-in sample refused: %s\n", err);
			abort();
		}
		image_free(img);
	}
	for (i = 0; i <= len; i++, runs++) /* every truncation */
		LLVMFuzzerTestOneInput((const uint8_t *)sample, i);
	for (i = 0; i < len; i++) { /* one interesting byte at every position */
		memcpy(buf, sample, len);
		buf[i] = interesting[rng() % sizeof(interesting)];
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		runs++;
	}
	for (i = 0; i < 8000; i++, runs++) { /* a few random edits at once */
		size_t n = len, edits = 1 + rng() % 4;

		memcpy(buf, sample, len);
		for (k = 0; k < edits; k++) {
			size_t pos = rng() % n;

			switch (rng() % 4) {
			case 0:
				buf[pos] = (char)rng();
				break;
			case 1:
				buf[pos] = interesting[rng() % sizeof(interesting)];
				break;
			case 2: /* delete a span */
				memmove(buf + pos, buf + pos + 1, n - pos - 1);
				n--;
				break;
			default: /* a digit grows a number: counts, indexes, addresses */
				if (buf[pos] >= '0' && buf[pos] <= '9' && n < len + 60) {
					memmove(buf + pos + 1, buf + pos, n - pos);
					buf[pos] = (char)('1' + rng() % 9);
					n++;
				}
				break;
			}
		}
		LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
	}
	free(buf);
	return runs;
}

#define CORPUS "tests/fuzz/corpus/image"

int main(int argc, char **argv)
{
	int i, failed = 0;
	DIR *dir;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			failed |= run_file(argv[i]);
		printf("fuzz-image: %d inputs, no crash\n", argc - 1);
		return failed;
	}
	printf("fuzz-image: %zu built-in inputs, no crash\n", run_builtin());
	/* from the repository root (as tests/run.sh runs it) the seeds are replayed too */
	dir = opendir(CORPUS);
	if (dir) {
		struct dirent *de;
		char path[512];
		int n = 0;

		while ((de = readdir(dir))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", CORPUS, de->d_name);
			failed |= run_file(path);
			n++;
		}
		closedir(dir);
		printf("fuzz-image: %d corpus inputs from %s, no crash\n", n, CORPUS);
	}
	return failed;
}

#endif
