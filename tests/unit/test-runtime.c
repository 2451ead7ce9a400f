/*
 * test-runtime.c - unit tests of the runtime layer's pure parts: SHA-256,
 * launch-key digests and the reasons given for a cold start, the store's
 * metadata round trip (including damaged metadata), and what thaw run reads
 * from a program over the control socket.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "repo/repo-internal.h"
#include "runtime/runtime-internal.h"

static void test_sha256(void **state)
{
	char hex[65], *big;

	(void)state;
	runtime_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	runtime_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* 56 bytes: the length no longer fits in the first padding block */
	runtime_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	big = malloc(1000000);
	assert_non_null(big);
	memset(big, 'a', 1000000);
	runtime_sha256_hex(big, 1000000, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(big);
}

static json_t *ingredients(const char *arg2, const char *foo, const char *exe_size)
{
	return json_pack("{s:s, s:[s,s,s], s:{s:s, s:s}, s:s, s:{s:s, s:s}, s:s, s:s, s:s}",
			 "format", "image 1 runtime 1", "argv", "python3", "w.py", arg2, "env",
			 "FOO", foo, "HOME", "h1", "cwd", "/tmp", "exe", "path", "/usr/bin/python3",
			 "size", exe_size, "cpu", "0.0", "kernel", "6.18", "gpus", "");
}

static void expect_reason(json_t *was, json_t *now, const char *want)
{
	char *why = key_explain(was, now);

	assert_non_null(why);
	assert_string_equal(why, want);
	free(why);
	json_decref(was);
	json_decref(now);
}

static void test_key(void **state)
{
	char k1[RUNTIME_KEY_LEN + 1], k2[RUNTIME_KEY_LEN + 1];
	json_t *a = ingredients("x", "1", "10"), *b = ingredients("x", "1", "10");
	json_t *c = ingredients("y", "1", "10");

	(void)state;
	key_digest(a, k1);
	key_digest(b, k2);
	assert_string_equal(k1, k2);
	assert_int_equal(strlen(k1), RUNTIME_KEY_LEN);
	key_digest(c, k2);
	assert_string_not_equal(k1, k2);
	json_decref(a);
	json_decref(b);
	json_decref(c);

	expect_reason(ingredients("x", "1", "10"), ingredients("y", "1", "10"),
		      "argument 2 changed");
	expect_reason(ingredients("x", "1", "10"), ingredients("x", "2", "10"),
		      "environment variable FOO changed");
	expect_reason(ingredients("x", "1", "10"), ingredients("x", "1", "11"),
		      "/usr/bin/python3 changed");
	a = ingredients("x", "1", "10");
	json_array_append_new(json_object_get(a, "argv"), json_string("more"));
	expect_reason(ingredients("x", "1", "10"), a, "argument 3 added");
	a = ingredients("x", "1", "10");
	json_object_del(json_object_get(a, "env"), "HOME");
	expect_reason(ingredients("x", "1", "10"), a, "environment variable HOME was unset");
	a = ingredients("x", "1", "10");
	json_object_set_new(json_object_get(a, "env"), "NEW", json_string("v"));
	expect_reason(ingredients("x", "1", "10"), a, "environment variable NEW was set");
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "kernel", json_string("6.19"));
	expect_reason(ingredients("x", "1", "10"), a, "kernel release changed");
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "cwd", json_string("/"));
	expect_reason(ingredients("x", "1", "10"), a, "working directory changed");
	expect_reason(json_null(), ingredients("x", "1", "10"),
		      "the stored snapshot has no key ingredients");
	/* --root: the tree is named before what follows from it (another exe, say) */
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "root", json_pack("{s:s, s:s}", "dir", "/r1", "at", "/"));
	expect_reason(ingredients("x", "1", "10"), a, "--root was given");
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "root", json_pack("{s:s, s:s}", "dir", "/r1", "at", "/"));
	expect_reason(a, ingredients("x", "1", "10"), "--root was left out");
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "root", json_pack("{s:s, s:s}", "dir", "/r1", "at", "/"));
	b = ingredients("x", "1", "11");
	json_object_set_new(b, "root", json_pack("{s:s, s:s}", "dir", "/r2", "at", "/"));
	expect_reason(a, b, "root directory changed (now /r2)");
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "root", json_pack("{s:s, s:s}", "dir", "/r1", "at", "/"));
	b = ingredients("x", "1", "10");
	json_object_set_new(b, "root", json_pack("{s:s, s:s}", "dir", "/r1", "at", "/opt/v"));
	expect_reason(a, b, "--root's mount point changed");
	/* --image: the same name, another index digest, is named by the image */
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "root", json_pack("{s:s, s:s, s:s}", "image", "py", "digest",
						 "aaaaaaaaaaaaaaaa", "at", "/"));
	b = ingredients("x", "1", "11");
	json_object_set_new(b, "root", json_pack("{s:s, s:s, s:s}", "image", "py", "digest",
						 "bbbbbbbbbbbbbbbb", "at", "/"));
	expect_reason(a, b, "image py changed (now bbbbbbbbbbbb)");
	a = ingredients("x", "1", "10");
	json_object_set_new(a, "root", json_pack("{s:s, s:s}", "dir", "/r1", "at", "/"));
	b = ingredients("x", "1", "10");
	json_object_set_new(b, "root", json_pack("{s:s, s:s, s:s}", "image", "py", "digest", "b",
						 "at", "/"));
	expect_reason(a, b, "--image was given instead of --root");
}

static void test_store(void **state)
{
	char dir[] = "/tmp/thaw-test-runtime-XXXXXX", path[256];
	struct repo_meta m = { 0 }, back, newest;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	m.name = "worker";
	memcpy(m.key, "0123456789abcdef01234567", RUNTIME_KEY_LEN + 1);
	m.command = "python3 worker.py";
	m.created = 1700000000;
	m.created_ns = 1700000000123456789ll;
	m.size = 4096;
	m.restored = 3;
	m.control_fd = 1023;
	m.ingredients = ingredients("x", "1", "10");
	assert_int_equal(repo_dir_save(dir, &m), 0);
	assert_int_equal(repo_dir_load(dir, m.key, &back), 0);
	assert_string_equal(back.name, "worker");
	assert_string_equal(back.command, "python3 worker.py");
	assert_int_equal(back.restored, 3);
	assert_int_equal(back.control_fd, 1023);
	assert_true(json_equal(back.ingredients, m.ingredients));
	repo_meta_release(&back);
	assert_int_equal(repo_dir_newest_named(dir, "worker", NULL, &newest), 0);
	assert_string_equal(newest.key, m.key);
	repo_meta_release(&newest);
	assert_int_equal(repo_dir_newest_named(dir, "worker", m.key, &newest), -ENOENT);
	assert_int_equal(repo_dir_newest_named(dir, "other", NULL, &newest), -ENOENT);
	/* keys are hex of one length: nothing else is ever a path */
	assert_int_equal(repo_dir_load(dir, "../etc/passwd", &back), -EINVAL);
	assert_int_equal(repo_dir_load(dir, "0123456789abcdef0123456", &back), -EINVAL);
	/* damaged metadata: not JSON, or its key is not its name */
	snprintf(path, sizeof(path), "%s/%s.json", dir, m.key);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"key\": \"ffffffffffffffffffffffff\", \"name\": \"x\"}", f);
	fclose(f);
	assert_int_equal(repo_dir_load(dir, m.key, &back), -EBADMSG);
	f = fopen(path, "w");
	fputs("{ not json", f);
	fclose(f);
	assert_int_equal(repo_dir_load(dir, m.key, &back), -EBADMSG);
	assert_int_equal(repo_dir_remove_key(dir, m.key), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(rmdir(dir), 0);
	json_decref(m.ingredients);
}

/* Metadata from a store is untrusted: its key, name, fd number and ingredients are checked. */
static void test_meta_hostile(void **state)
{
	static const char key[] = "0123456789abcdef01234567";
	struct repo_meta m;
	json_t *root;
	char name[300];

	(void)state;
	/* an empty key matched an empty key asked for, and 25 bytes were copied from it */
	root = json_pack("{s:s, s:s}", "key", "", "name", "x");
	assert_int_equal(repo_meta_from_json(root, "", &m), -EBADMSG);
	assert_int_equal(repo_meta_from_json(root, NULL, &m), -EBADMSG);
	json_decref(root);
	root = json_pack("{s:s, s:s}", "key", "../../etc/passwd", "name", "x");
	assert_int_equal(repo_meta_from_json(root, NULL, &m), -EBADMSG);
	json_decref(root);
	/* NULL: the key the metadata says, when it is one */
	root = json_pack("{s:s, s:s, s:I, s:s}", "key", key, "name", "w", "control_fd",
			 (json_int_t)((1ll << 32) + 5), "ingredients", "not an object");
	assert_int_equal(repo_meta_from_json(root, NULL, &m), 0);
	assert_string_equal(m.key, key);
	assert_int_equal(m.control_fd, -1); /* not fd 5 */
	assert_null(m.ingredients);
	repo_meta_release(&m);
	assert_int_equal(repo_meta_from_json(root, "ffffffffffffffffffffffff", &m), -EBADMSG);
	json_decref(root);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	root = json_pack("{s:s, s:s}", "key", key, "name", name);
	assert_int_equal(repo_meta_from_json(root, key, &m), -EBADMSG);
	json_decref(root);
}

/* Sends len bytes as one datagram from the program's end, and reads it at thaw run's. */
static enum control_request ask(int sv[2], const void *msg, size_t len)
{
	assert_int_equal(send(sv[1], msg, len, 0), (ssize_t)len);
	return control_read(sv[0]);
}

static void test_control(void **state)
{
	char big[CONTROL_MAX_REQUEST + 100];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(control_read(sv[0]), CONTROL_NONE);
	assert_int_equal(ask(sv, "snapshot", 8), CONTROL_SNAPSHOT);
	/* the exact bytes only: not a prefix, not with a NUL and more after it */
	assert_int_equal(ask(sv, "snapshot\0junk", 13), CONTROL_UNKNOWN);
	assert_int_equal(ask(sv, "snapshot\n", 9), CONTROL_UNKNOWN);
	assert_int_equal(ask(sv, "snap", 4), CONTROL_UNKNOWN);
	/* a datagram longer than the buffer is not read as its start */
	memset(big, 'x', sizeof(big));
	memcpy(big, "snapshot", 8);
	assert_int_equal(ask(sv, big, sizeof(big)), CONTROL_UNKNOWN);
	assert_int_equal(ask(sv, big, CONTROL_MAX_REQUEST), CONTROL_UNKNOWN);
	/* an empty datagram is a request too, not the end of the conversation */
	assert_int_equal(ask(sv, "", 0), CONTROL_UNKNOWN);
	assert_int_equal(ask(sv, "snapshot", 8), CONTROL_SNAPSHOT);
	assert_int_equal(control_read(sv[0]), CONTROL_NONE);
	/* what was sent before the program closed its end is read, then the end */
	assert_int_equal(send(sv[1], "snapshot", 8, 0), 8);
	close(sv[1]);
	assert_int_equal(control_read(sv[0]), CONTROL_SNAPSHOT);
	assert_int_equal(control_read(sv[0]), CONTROL_CLOSED);
	close(sv[0]);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A signal that comes while an empty datagram is told from the end does not end anything. */
static void test_control_signals(void **state)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: calls fail EINTR */
	struct itimerval fast = { { 0, 20 }, { 0, 20 } }, off = { { 0, 0 }, { 0, 0 } };
	int sv[2], i, wrong = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &fast, NULL), 0);
	for (i = 0; i < 50000; i++)
		wrong += ask(sv, "", 0) != CONTROL_UNKNOWN;
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	signal(SIGALRM, SIG_DFL);
	assert_int_equal(wrong, 0);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_meta_hostile),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_control_signals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
