/*
 * fuzz-image.c - fuzz target for the manifest reader, image_manifest_from_json().
 *
 * The manifest is the one part of a snapshot that is parsed as structure, so
 * it is where hostile bytes have the most room.  With libFuzzer:
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz-image.c src/image/image*.c src/base/log.c -ljansson
 * seeds in tests/fuzz/corpus/image/ (`make fuzz`).  With -DFUZZ_STANDALONE,
 * tests/fuzz/standalone.h drives it: the files named on the command line
 * once each; with none, edits of a built-in valid manifest, then the seeds
 * of tests/fuzz/corpus/image/ when run from the repository root.  It exits
 * 0 when nothing crashed.
 *
 * Beyond "no crash", an accepted manifest must hold what the reader promises:
 * it validates, and encoding it and reading it back gives the same text.
 * A broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
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
#define FUZZ_INTERESTING '{', '}', '[', ']', '"', ':', ',', '\\', '0', '9', 'x', 'f', '-', 'e', \
			 '\0', '\xff'
#include "standalone.h"

int main(int argc, char **argv)
{
	size_t len = sizeof(sample) - 1, runs = 0;
	struct image *img;
	char err[256];

	log_set_level(-1); /* refusals are the point: no line each */
	if (argc > 1)
		return run_named_files("fuzz-image", argc, argv);
	/* the sample itself must be accepted, or the edits test only refusals */
	img = calloc(1, sizeof(*img));
	if (!img || image_manifest_from_json(img, sample, len, err, sizeof(err))) {
		fprintf(stderr, "fuzz-image: built-in sample refused: %s\n", img ? err : "no memory");
		abort();
	}
	image_free(img);
	runs += mutate_sample(sample, len, 8000);
	runs += run_corpus("tests/fuzz/corpus/image");
	printf("fuzz-image: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
