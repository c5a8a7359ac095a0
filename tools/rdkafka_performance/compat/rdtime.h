/* Stand-in for librdkafka internal rdtime.h: see ../rd.h. */
#include "rd.h"
