/*
 * fuzz-meta.c - fuzz target for what thaw run reads back from its store:
 * a snapshot's metadata (KEY.json of a plain store, run.json inside a chunk
 * store: repo_meta_from_json(), src/repo/repo-meta.c) with the launch
 * key's ingredients that key_explain() compares with this start's, and the
 * content digests (digests.json: digest_parse(), src/runtime/digest.c).
 * Whoever can write the store writes these bytes.
 *
 * Input: JSON text, read as all three.  Beyond "no crash": accepted
 * metadata has a valid key (the one asked for, when one is), a bounded
 * name and fd number, and writing it and reading it back gives the same;
 * a cold start's reason is always a sentence; accepted digests are 64 hex
 * digits each, at a file index that exists.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/meta/ (written
 * by the standalone build: fuzz-meta --seeds DIR).  With -DFUZZ_STANDALONE,
 * tests/fuzz/standalone.h drives it over built-in samples.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "runtime/digest.h"
#include "repo/repo-internal.h"
#include "runtime/runtime-internal.h"

#define NR_FILES 4 /* the snapshot's file table, as digests.json indexes it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key_asked[] = "0123456789abcdef01234567";

/* This start's ingredients, as key_ingredients() makes them. */
static const char now_text[] =
	"{\"format\": \"image 2 runtime 1\", \"argv\": [\"python3\", \"worker.py\"], "
	"\"env\": {\"HOME\": \"0a1b\", \"FOO\": \"2c3d\"}, \"cwd\": \"/srv\", "
	"\"exe\": {\"path\": \"/usr/bin/python3\", \"size\": 10, \"mtime_ns\": 5, \"ino\": 7, "
	"\"dev\": 2049}, \"cpu\": [\"0x1\", \"0x2\"], \"kernel\": \"6.1.0\", \"gpus\": []}";

static json_t *now_ingredients(void)
{
	static json_t *now;

	if (!now)
		now = json_loads(now_text, 0, NULL);
	if (!now)
		abort();
	return now;
}

static void check_reason(json_t *stored)
{
	char *why = key_explain(stored, now_ingredients());

	if (why && !*why)
		abort(); /* a cold start always says why */
	free(why);
}

static void check_meta(json_t *root, const char *key)
{
	struct repo_meta m, again;
	json_t *back;
	char *text;
	int ret = repo_meta_from_json(root, key, &m);

	if (ret) {
		if (ret != -EBADMSG && ret != -ENOMEM)
			abort();
		return;
	}
	if (!repo_key_valid(m.key) || (key && strcmp(m.key, key)) || !m.name || !m.command ||
	    strlen(m.name) > 255 || (m.control_fd != -1 && (m.control_fd < 3 ||
							   m.control_fd > (1 << 20))) ||
	    (m.ingredients && !json_is_object(m.ingredients)))
		abort();
	check_reason(m.ingredients);
	text = repo_meta_to_json(&m);
	back = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (text && !back)
		abort(); /* thaw must read back what it writes */
	if (back) {
		if (repo_meta_from_json(back, m.key, &again))
			abort();
		if (strcmp(again.name, m.name) || strcmp(again.command, m.command) ||
		    again.created != m.created || again.created_ns != m.created_ns ||
		    again.size != m.size || again.restored != m.restored ||
		    again.control_fd != m.control_fd || again.stdout_pipe != m.stdout_pipe ||
		    !again.ingredients != !m.ingredients ||
		    (m.ingredients && !json_equal(again.ingredients, m.ingredients)))
			abort();
		repo_meta_release(&again);
		json_decref(back);
	}
	free(text);
	repo_meta_release(&m);
}

static void check_digests(json_t *root)
{
	const char **by_index = NULL;
	int ret = digest_parse(root, NR_FILES, &by_index), i;

	if (ret) {
		if ((ret != -EBADMSG && ret != -ENOMEM) || by_index)
			abort();
		return;
	}
	for (i = 0; i < NR_FILES; i++)
		if (by_index[i] && (strlen(by_index[i]) != 64 ||
				    strspn(by_index[i], "0123456789abcdef") != 64))
			abort();
	free(by_index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *root;

	log_set_level(-1);
	/* jansson reads exactly size bytes: no copy needed to catch an overread */
	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return 0;
	check_meta(root, NULL); /* a chunk store's name: the key the metadata says */
	check_meta(root, key_asked); /* a plain store's KEY.json */
	check_reason(root);
	check_reason(json_object_get(root, "ingredients"));
	check_digests(root);
	json_decref(root);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '"', '{', '}', '[', ']', ':', ',', '0', '9', 'a', 'f', '-', '\\', '\0', \
			 '\xff'
#include "standalone.h"

static const struct {
	const char *name, *text;
} samples[] = {
	{ "key-json",
	  "{\"command\": \"python3 worker.py\", \"control_fd\": 1023, \"created\": 1700000000, "
	  "\"created_ns\": 1700000000123456789, \"ingredients\": {\"format\": \"image 2 runtime 1\", "
	  "\"argv\": [\"python3\", \"worker.py\", \"--x\"], \"env\": {\"HOME\": \"0a1b\", \"BAR\": "
	  "\"2c3d\"}, \"cwd\": \"/srv\", \"exe\": {\"path\": \"/usr/bin/python3\", \"size\": 11, "
	  "\"mtime_ns\": 5, \"ino\": 7, \"dev\": 2049}, \"cpu\": [\"0x1\", \"0x2\"], \"kernel\": "
	  "\"6.1.0\", \"gpus\": [], \"layout\": \"fixed\"}, \"key\": \"0123456789abcdef01234567\", "
	  "\"name\": \"worker\", \"restored\": 3, \"size\": 4096, \"stdout_pipe\": true, "
	  "\"version\": 1}" },
	{ "same-ingredients",
	  "{\"key\": \"0123456789abcdef01234567\", \"name\": \"w\", \"control_fd\": 4294967301, "
	  "\"ingredients\": {\"format\": \"image 2 runtime 1\", \"argv\": [\"python3\", "
	  "\"worker.py\"], \"env\": {\"HOME\": \"0a1b\", \"FOO\": \"2c3d\"}, \"cwd\": \"/srv\", "
	  "\"exe\": {\"path\": \"/usr/bin/python3\", \"size\": 10, \"mtime_ns\": 5, \"ino\": 7, "
	  "\"dev\": 2049}, \"cpu\": [\"0x1\", \"0x2\"], \"kernel\": \"6.1.1\", \"gpus\": []}}" },
	{ "digests",
	  "{\"version\": 1, \"files\": [{\"file\": 0, \"sha256\": "
	  "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}, {\"file\": 3, "
	  "\"sha256\": \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}]}" },
};

static int write_seeds(const char *dir)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		failed |= write_seed(dir, samples[i].name, samples[i].text, strlen(samples[i].text));
	return failed;
}

int main(int argc, char **argv)
{
	const char **by_index;
	struct repo_meta m;
	size_t runs = 0, i;
	json_t *root;

	/* the samples must be accepted, or their edits test only refusals */
	for (i = 0; i < 2; i++) {
		root = json_loads(samples[i].text, 0, NULL);
		if (!root || repo_meta_from_json(root, key_asked, &m))
			abort();
		repo_meta_release(&m);
		json_decref(root);
	}
	root = json_loads(samples[2].text, 0, NULL);
	if (!root || digest_parse(root, NR_FILES, &by_index))
		abort();
	free(by_index);
	json_decref(root);
	if (argc == 3 && !strcmp(argv[1], "--seeds"))
		return write_seeds(argv[2]);
	if (argc > 1)
		return run_named_files("fuzz-meta", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		runs += mutate_sample(samples[i].text, strlen(samples[i].text), 5000);
	runs += run_corpus("tests/fuzz/corpus/meta");
	printf("fuzz-meta: %zu inputs, no crash\n", runs);
	json_decref(now_ingredients());
	return 0;
}

#endif
