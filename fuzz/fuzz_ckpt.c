/* The checkpoint container and the trainer and detector loaders. A mutated file almost never
 * keeps a valid checksum, so unless the first byte is odd the target repairs the envelope
 * (size field and trailing FNV-1a) first: the loaders' own checks are what gets exercised,
 * as with a checkpoint crafted by another tool (issue 16). */
#include "boxmine/bm_det.h"
#include "boxmine/bm_train.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size + 1);
  if (!copy) return 0;
  if (size) memcpy(copy, data, size);
  if (size >= 32 && !(data[0] & 1)) {
    memcpy(copy, "BMCK", 4);
    for (int i = 0; i < 8; i++) copy[8 + i] = (uint8_t)((uint64_t)size >> (8 * i));
    uint64_t sum = bm_fnv64(BM_FNV64_INIT, copy, size - 8);
    for (int i = 0; i < 8; i++) copy[size - 8 + i] = (uint8_t)(sum >> (8 * i));
  }
  const char *path = fuzz_scratch(".ckpt", copy, size);
  free(copy);
  bm_error err;
  bm_ckpt_reader r;
  if (bm_ckpt_open(&r, path, &err) == 0) {
    for (int s = 0; s < r.n_sections; s++) { /* every typed read path */
      size_t count = 0;
      const bm_ckpt_section *sec = &r.sections[s];
      if (bm_ckpt_count(&r, sec->name, sec->type, &count, &err) || count > (1u << 20)) continue;
      void *out = malloc(count * 8 + 8);
      if (sec->type == BM_CKPT_F32) bm_ckpt_read_f32(&r, sec->name, out, count, &err);
      else if (sec->type == BM_CKPT_F64) bm_ckpt_read_f64(&r, sec->name, out, count, &err);
      else if (sec->type == BM_CKPT_I64) bm_ckpt_read_i64(&r, sec->name, out, count, &err);
      else {
        char *text = NULL;
        if (bm_ckpt_read_string(&r, sec->name, &text, &err) == 0) bm_free(text);
      }
      free(out);
    }
    bm_ckpt_close(&r);
  }
  bm_detector *det = NULL;
  if (bm_detector_load(&det, path, 1, NULL, &err) == 0) bm_detector_free(det);
  bm_trainer *tr = NULL;
  if (bm_trainer_load(&tr, path, 1, NULL, &err) == 0) bm_trainer_free(tr);
  unlink(path);
  return 0;
}
