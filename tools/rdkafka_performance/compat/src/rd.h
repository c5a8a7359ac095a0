/* Stand-in for librdkafka internal rd.h reached as "../src/rd.h". */
#include "../rd.h"
