/*
 * keyfile.c - reading a key file (keyfile.h).
 */
#define LOG_TAG "key"

#include "base/keyfile.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/trust.h"

int key_file_parse(const uint8_t *buf, size_t n, uint8_t key[KEY_FILE_BYTES])
{
	size_t i;

	if (n == KEY_FILE_BYTES) {
		memcpy(key, buf, KEY_FILE_BYTES);
		return 0;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	for (i = 0; n == 2 * KEY_FILE_BYTES && i < KEY_FILE_BYTES; i++) {
		int hi = hex_digit(buf[2 * i]), lo = hex_digit(buf[2 * i + 1]);

		if (hi < 0 || lo < 0)
			break;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	if (n != 2 * KEY_FILE_BYTES || i != KEY_FILE_BYTES) {
		memset(key, 0, KEY_FILE_BYTES);
		return -EINVAL;
	}
	return 0;
}

int key_file_load(const char *path, uint8_t key[KEY_FILE_BYTES])
{
	uint8_t buf[130];
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = trust_open_file("key file", path, &st);
	if (fd == -ENOENT)
		log_error("key file %s: no such file", path);
	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return log_errno("key file %s", path);
	ret = key_file_parse(buf, (size_t)n, key);
	memset(buf, 0, sizeof(buf));
	if (ret)
		log_error("key file %s: want 32 raw bytes or 64 hex digits", path);
	return ret;
}
