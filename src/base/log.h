/*
 * log.h - one place where thaw talks to people.
 *
 * Every message goes to stderr with the program name and a level.  A file
 * that logs defines LOG_TAG before including this header; the tag names the
 * part of thaw that speaks ("dump", "restore", "image" ...).  Functions log
 * once, where the context is known, and return a negative errno.
 */
#ifndef THAW_BASE_LOG_H
#define THAW_BASE_LOG_H

#include <errno.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

#ifndef LOG_TAG
#define LOG_TAG "thaw"
#endif

extern int log_max_level;

void log_set_level(int level);
/*
 * The command a person typed ("dump"): once set, errors, warnings and
 * notes read "thaw dump: error: ..." whichever part of thaw speaks, and
 * only debug and trace lines name the part ("thaw dump: debug: [mem] ...").
 * NULL (the default, and the tests of the layers) keeps "thaw TAG: ...".
 */
void log_set_command(const char *command);
/* Colour the level word (red error, yellow warning); the CLI decides when. */
void log_set_colour(int on);
/*
 * Called before each message is written to fd: the CLI wipes its progress
 * line there, so that a message never lands at the end of it.
 */
void log_set_before(void (*fn)(int fd));
/* Where messages go (default stderr); the restore helper keeps its own copy. */
void log_set_fd(int fd);
int log_get_fd(void);
void log_msg(int level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, LOG_TAG, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, LOG_TAG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, LOG_TAG, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_max_level >= LOG_DEBUG)                                                    \
			log_msg(LOG_DEBUG, LOG_TAG, __VA_ARGS__);                                  \
	} while (0)

/* log_errno(): report a failed system call and return -errno in one step. */
#define log_errno(fmt, ...)                                                                        \
	({                                                                                         \
		int __err = errno;                                                                 \
		log_msg(LOG_ERROR, LOG_TAG, fmt ": %s", ##__VA_ARGS__, strerror(__err));           \
		-__err;                                                                            \
	})

#endif
