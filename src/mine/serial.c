/* Little-endian byte writers and bounds-checked readers (see serial.h). */
#include "mine/serial.h"

#include <string.h>

void mine_put_u8(bm_buf *out, uint8_t value) { bm_buf_append(out, &value, 1); }

void mine_put_u32(bm_buf *out, uint32_t value) {
  unsigned char bytes[4];
  for (int i = 0; i < 4; i++) bytes[i] = (unsigned char)(value >> (8 * i));
  bm_buf_append(out, bytes, sizeof bytes);
}

void mine_put_u64(bm_buf *out, uint64_t value) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(value >> (8 * i));
  bm_buf_append(out, bytes, sizeof bytes);
}

void mine_put_f32(bm_buf *out, float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  mine_put_u32(out, bits);
}

void mine_put_f64(bm_buf *out, double value) {
  uint64_t bits;
  memcpy(&bits, &value, sizeof bits);
  mine_put_u64(out, bits);
}

void mine_reader_init(mine_reader *in, const void *data, size_t len) {
  in->data = data;
  in->len = len;
  in->pos = 0;
  in->failed = 0;
}

void mine_get_bytes(mine_reader *in, void *out, size_t n) {
  if (in->failed || n > in->len - in->pos) {
    in->failed = 1;
    memset(out, 0, n);
    return;
  }
  memcpy(out, in->data + in->pos, n);
  in->pos += n;
}

uint8_t mine_get_u8(mine_reader *in) {
  uint8_t value;
  mine_get_bytes(in, &value, 1);
  return value;
}

uint32_t mine_get_u32(mine_reader *in) {
  unsigned char bytes[4];
  mine_get_bytes(in, bytes, sizeof bytes);
  uint32_t value = 0;
  for (int i = 0; i < 4; i++) value |= (uint32_t)bytes[i] << (8 * i);
  return value;
}

uint64_t mine_get_u64(mine_reader *in) {
  unsigned char bytes[8];
  mine_get_bytes(in, bytes, sizeof bytes);
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) value |= (uint64_t)bytes[i] << (8 * i);
  return value;
}

float mine_get_f32(mine_reader *in) {
  uint32_t bits = mine_get_u32(in);
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

double mine_get_f64(mine_reader *in) {
  uint64_t bits = mine_get_u64(in);
  double value;
  memcpy(&value, &bits, sizeof value);
  return value;
}
