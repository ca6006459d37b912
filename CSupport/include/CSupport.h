// CSupport.h - umbrella header of sega's C kernels.
#ifndef SEGA_CSUPPORT_H
#define SEGA_CSUPPORT_H
#include "sega_common.h"
#include "sega_arena.h"
#include "sega_threads.h"
#include "sega_engine.h"
#include "sega_gemm.h"
#include "sega_conv.h"
#include "sega_pooling.h"
#include "sega_eltwise.h"
#include "sega_winograd.h"
#include "sega_attention.h"
#endif
