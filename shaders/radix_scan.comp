// GPU radix sort, pass 2: exclusive prefix sum over the digit-major histograms (one work group).
layout(local_size_x = 1024) in;
layout(std430, binding = 7) buffer Hist { uint hist[]; };
shared uint partial[1024];
void main() {
    uint n = 256u * dispatch[3];
    uint t = gl_LocalInvocationID.x;
    uint per = (n + 1023u) / 1024u;
    uint b = min(t * per, n), e = min(b + per, n);
    uint sum = 0u;
    for (uint i = b; i < e; i++) sum += hist[i];
    partial[t] = sum;
    barrier();
    for (uint off = 1u; off < 1024u; off <<= 1) { // Hillis-Steele inclusive scan
        uint v = t >= off ? partial[t - off] : 0u;
        barrier();
        partial[t] += v;
        barrier();
    }
    uint run = partial[t] - sum;
    for (uint i = b; i < e; i++) { uint h = hist[i]; hist[i] = run; run += h; }
}
