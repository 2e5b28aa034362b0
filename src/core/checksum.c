/* CRC-32C (Castagnoli polynomial, reflected 0x82F63B78) and FNV-1a 64. */
#include "boxmine/bm_core.h"

uint32_t bm_crc32c(uint32_t crc, const void *data, size_t len) {
  const unsigned char *bytes = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++) {
    crc ^= bytes[i];
    for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint64_t bm_fnv64(uint64_t hash, const void *data, size_t len) {
  const unsigned char *bytes = data;
  for (size_t i = 0; i < len; i++) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}
