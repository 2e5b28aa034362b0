/* Little-endian binary writing into a bm_buf and bounds-checked reading, for the mining
 * state and ledger checkpoints. Private to src/mine. */
#ifndef BM_MINE_SERIAL_H
#define BM_MINE_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "boxmine/bm_core.h"

void mine_put_u8(bm_buf *out, uint8_t value);
void mine_put_u32(bm_buf *out, uint32_t value);
void mine_put_u64(bm_buf *out, uint64_t value);
void mine_put_f32(bm_buf *out, float value);
void mine_put_f64(bm_buf *out, double value);

/* A reader over bytes; any read past the end sets failed and returns zeros. */
typedef struct mine_reader {
  const unsigned char *data;
  size_t len;
  size_t pos;
  int failed;
} mine_reader;
void mine_reader_init(mine_reader *in, const void *data, size_t len);
void mine_get_bytes(mine_reader *in, void *out, size_t n);
uint8_t mine_get_u8(mine_reader *in);
uint32_t mine_get_u32(mine_reader *in);
uint64_t mine_get_u64(mine_reader *in);
float mine_get_f32(mine_reader *in);
double mine_get_f64(mine_reader *in);

#endif
