/* Runs Debian's libdarknet on a cfg + .weights + raw input and dumps every layer's output,
 * so bench/torch_cfg.py (and through it the golden data) can be checked against darknet
 * itself. Not part of the CMake build; built and run by hand (docs/GOLDEN.md):
 *   cc -O2 -I/usr/lib/darknet/include tests/golden/darknet_dump.c \
 *      -L/usr/lib/darknet -Wl,-rpath,/usr/lib/darknet -ldarknet -o /tmp/darknet_dump
 *   /tmp/darknet_dump NET.cfg NET.weights INPUT.f32 BATCH OUT.f32
 * INPUT.f32: BATCH*C*H*W little-endian float32 (NCHW, as darknet holds it).
 * OUT.f32:   int32 n_layers, then per layer int32 type, int32 c, h, w, float32[BATCH*c*h*w]. */
#include <darknet.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s NET.cfg NET.weights INPUT.f32 BATCH OUT.f32\n", argv[0]);
    return 2;
  }
  int batch = atoi(argv[4]);
  network *net = load_network(argv[1], argv[2], 0);
  set_batch_network(net, batch);
  size_t n_in = (size_t)batch * net->inputs;
  float *input = malloc(n_in * sizeof(float));
  FILE *f = fopen(argv[3], "rb");
  if (!input || !f || fread(input, sizeof(float), n_in, f) != n_in) {
    fprintf(stderr, "%s: cannot read %zu floats\n", argv[3], n_in);
    return 1;
  }
  fclose(f);
  network_predict(net, input);
  FILE *out = fopen(argv[5], "wb");
  if (!out) {
    fprintf(stderr, "%s: cannot write\n", argv[5]);
    return 1;
  }
  int n = net->n;
  fwrite(&n, sizeof n, 1, out);
  for (int i = 0; i < n; i++) {
    layer *l = &net->layers[i];
    int head[4] = {(int)l->type, l->out_c, l->out_h, l->out_w};
    fwrite(head, sizeof head[0], 4, out);
    fwrite(l->output, sizeof(float), (size_t)batch * l->outputs, out);
  }
  fclose(out);
  free(input);
  return 0;
}
