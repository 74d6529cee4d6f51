/*
 * Shared by the libFuzzer targets of tests/fuzz: the two entry points'
 * prototypes (the build has -Wmissing-prototypes), and anonymous memory
 * files for the loaders that read a path.  A target creates its memfds
 * once and rewrites them per input; the loaders open them by the path
 * /proc/self/fd/N, which gives a fresh file description at offset 0.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * An oracle of a target: when cond is false, say which one failed (the
 * runner shows the line) and crash, so that libFuzzer keeps the input.
 */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "oracle: " __VA_ARGS__);		\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* The repository, for the shipped rule files; the build sets it. */
#ifndef FUZZ_ROOT
#define FUZZ_ROOT "."
#endif

static inline int
fuzz_memfd(const char *name, char *path, size_t len)
{
	int fd;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) == -1) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

/* Make the file behind fd hold exactly data. */
static inline void
fuzz_fill(int fd, const void *data, size_t size)
{
	const char *p = data;
	ssize_t w;
	off_t off = 0;

	if (ftruncate(fd, 0) == -1) {
		perror("ftruncate");
		abort();
	}
	while ((size_t)off < size) {
		if ((w = pwrite(fd, p + off, size - (size_t)off, off)) <= 0) {
			perror("pwrite");
			abort();
		}
		off += w;
	}
}

#endif /* FUZZ_H */
