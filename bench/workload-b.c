/*
 * workload-b.c - reference workload B: a big-memory, many-threaded C program.
 *
 * Maps SIZE GiB (argument, default 4; fractions allowed) of anonymous memory,
 * and starts 8 worker threads that each fill their slice with a non-zero,
 * incompressible pattern (so a snapshot can elide nothing), then wait.  Once
 * all are done it prints READY and answers every stdin line with one line:
 * a digest over a sample of every slice (read by the workers themselves, so
 * all 8 threads must be alive and scheduled to answer) combined with each
 * worker's fill counter, which lives on that worker's stack.  Answering
 * changes no state, so a restored copy must answer exactly what the original
 * answered: that is how the benchmark checks a restore bit for bit.
 *
 *   workload-b [SIZE_GIB]      stdin EOF ends it with status 0
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NR_WORKERS 8
#define PAGE_BYTES 4096UL
#define WORDS_PER_PAGE (PAGE_BYTES / sizeof(uint64_t))
/* Sample one word in every 16th page: ~0.4 ms per GiB, yet every slice is read. */
#define SAMPLE_STRIDE_PAGES 16
#define MAX_SIZE_GIB 1024.0

struct worker {
	pthread_t thread;
	unsigned int index;
	uint64_t *words; /* this worker's slice */
	size_t nr_pages;
	uint64_t first_word; /* index of words[0] in the whole area */
	uint64_t answer; /* written for each request generation */
};

static struct worker workers[NR_WORKERS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static unsigned long generation; /* bumped by main once per request */
static unsigned int nr_done; /* workers finished with the current step */

/* splitmix64: a cheap bijective mixer; the pattern is a function of the word's index. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t fill_slice(struct worker *w)
{
	size_t nr_words = w->nr_pages * WORDS_PER_PAGE;
	uint64_t counter = 0;
	size_t i;

	for (i = 0; i < nr_words; i++) {
		/* | 1: never a zero word, hence never a zero page */
		w->words[i] = mix(w->first_word + i) | 1;
		counter += w->words[i] >> 60;
	}
	return counter;
}

static uint64_t sample_slice(const struct worker *w)
{
	uint64_t digest = w->index;
	size_t page;

	for (page = 0; page < w->nr_pages; page += SAMPLE_STRIDE_PAGES) {
		/* a different word of each sampled page, so no fixed offset is favoured */
		size_t word = (page * 7919) % WORDS_PER_PAGE;

		digest = mix(digest ^ w->words[page * WORDS_PER_PAGE + word]);
	}
	return digest;
}

static void report_done(void)
{
	pthread_mutex_lock(&lock);
	nr_done++;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* the fill counter stays on this stack for the process's lifetime */
	uint64_t counter = fill_slice(w);
	unsigned long seen = 0;

	report_done();
	for (;;) {
		pthread_mutex_lock(&lock);
		while (generation == seen)
			pthread_cond_wait(&work_cond, &lock);
		seen = generation;
		pthread_mutex_unlock(&lock);

		w->answer = mix(sample_slice(w) ^ counter);
		report_done();
	}
	return NULL;
}

static void wait_all_done(void)
{
	pthread_mutex_lock(&lock);
	while (nr_done < NR_WORKERS)
		pthread_cond_wait(&done_cond, &lock);
	nr_done = 0;
	pthread_mutex_unlock(&lock);
}

static uint64_t answer_request(void)
{
	uint64_t digest = 0;
	unsigned int i;

	pthread_mutex_lock(&lock);
	generation++;
	pthread_cond_broadcast(&work_cond);
	pthread_mutex_unlock(&lock);
	wait_all_done();
	for (i = 0; i < NR_WORKERS; i++)
		digest = mix(digest ^ workers[i].answer);
	return digest;
}

static int parse_size(const char *arg, size_t *ret_pages)
{
	char *end;
	double gib;

	errno = 0;
	gib = strtod(arg, &end);
	if (errno || end == arg || *end || !(gib > 0) || gib > MAX_SIZE_GIB)
		return -EINVAL;
	*ret_pages = (size_t)(gib * (1024.0 * 1024 * 1024) / PAGE_BYTES);
	if (*ret_pages < NR_WORKERS)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	size_t nr_pages, per_worker, page = 0;
	uint64_t *area;
	char *line = NULL;
	size_t line_cap = 0;
	unsigned int i;
	int err;

	if (argc > 2 || parse_size(argc == 2 ? argv[1] : "4", &nr_pages)) {
		fprintf(stderr, "usage: workload-b [SIZE_GIB]   (0 < SIZE_GIB <= %.0f)\n",
			MAX_SIZE_GIB);
		return 2;
	}
	area = mmap(NULL, nr_pages * PAGE_BYTES, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED) {
		fprintf(stderr, "workload-b: mmap %zu pages: %s\n", nr_pages, strerror(errno));
		return 1;
	}
	per_worker = nr_pages / NR_WORKERS;
	for (i = 0; i < NR_WORKERS; i++) {
		struct worker *w = &workers[i];

		w->index = i;
		w->nr_pages = i == NR_WORKERS - 1 ? nr_pages - page : per_worker;
		w->first_word = page * WORDS_PER_PAGE;
		w->words = area + w->first_word;
		page += w->nr_pages;
		err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err) {
			fprintf(stderr, "workload-b: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	wait_all_done();
	fputs("READY\n", stdout);
	fflush(stdout);

	while (getline(&line, &line_cap, stdin) >= 0) {
		printf("%016" PRIx64 "\n", answer_request());
		fflush(stdout);
	}
	free(line);
	return 0;
}
