/* Stand-in for librdkafka's internal rd.h: only what rdkafka_performance.c uses (snprintf alias, rd_ts_t, RD_MIN/RD_MAX, rd_clock). */
#ifndef BROKERLAB_RD_H
#define BROKERLAB_RD_H
#define _GNU_SOURCE
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#define rd_snprintf snprintf
typedef int64_t rd_ts_t;
#define RD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RD_MAX(a, b) ((a) > (b) ? (a) : (b))
/* rd_clock returns a monotonic clock in microseconds, as librdkafka's does. */
static inline rd_ts_t rd_clock(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((rd_ts_t)ts.tv_sec * 1000000LL) + ((rd_ts_t)ts.tv_nsec / 1000);
}
#endif
