// Compute rasteriser, blend: one 16x16 work group per tile; splats are fetched cooperatively into
// shared memory in batches and blended front to back with exactly the reference's arithmetic
// (alpha = min(0.99, o exp(power)), skip < 1/255, stop at T < 1e-4), stopping once every pixel is done.
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 16) readonly buffer PairVals { uint pair_vals[]; };
layout(std430, binding = 17) readonly buffer Ranges { uvec2 ranges[]; };
layout(rgba8, binding = 0) writeonly uniform image2D u_out;
uniform ivec2 u_isize;
uniform uint u_grid_x;
uniform vec3 u_bg;
shared vec4 s_pos_op[WG];  // centre (reference convention), opacity
shared vec4 s_conic[WG];  // the conic scaled for the power's polynomial
shared vec4 s_rgb[WG];
shared uint s_done;
void main() {
    uint tile = gl_WorkGroupID.y * u_grid_x + gl_WorkGroupID.x;
    uvec2 range = ranges[tile];
    ivec2 pix = ivec2(gl_WorkGroupID.xy * 16u + gl_LocalInvocationID.xy);
    bool inside = pix.x < u_isize.x && pix.y < u_isize.y;
    bool done = !inside;
    float T = 1.0;
    vec3 C = vec3(0.0);
    uint t = gl_LocalInvocationIndex;
    if (t == 0u) s_done = 0u;
    barrier();
    if (done) atomicAdd(s_done, 1u);
    vec2 pf = vec2(pix);
    for (uint start = range.x; start < range.y; start += WG) {
        barrier();
        if (s_done == WG) break; // every pixel saturated: the rest of the list cannot show
        uint i = start + t;
        if (i < range.y) {
            uint id = pair_vals[i];
            vec4 p0 = projected[4u * id];
            s_pos_op[t] = vec4(p0.xy - 0.5, p0.w, 0.0);
            vec3 con = projected[4u * id + 1u].xyz;
            s_conic[t] = vec4(-0.5 * con.x, -con.y, -0.5 * con.z, 0.0); // power = a dx^2 + b dx dy + c dy^2
            s_rgb[t] = projected[4u * id + 2u];
        }
        barrier();
        uint cnt = min(WG, range.y - start);
        for (uint j = 0u; j < cnt && !done; j++) {
            vec2 d = s_pos_op[j].xy - pf;
            vec3 q = s_conic[j].xyz;
            float power = (q.x * d.x + q.y * d.y) * d.x + q.z * d.y * d.y;
            if (power > 0.0) continue;
            float alpha = min(0.99, s_pos_op[j].z * exp(power));
            if (alpha < 1.0 / 255.0) continue;
            float test_T = T * (1.0 - alpha);
            if (test_T < 0.0001) { done = true; atomicAdd(s_done, 1u); break; }
            C += s_rgb[j].rgb * (alpha * T);
            T = test_T;
        }
    }
    if (inside) imageStore(u_out, ivec2(pix.x, u_isize.y - 1 - pix.y), vec4(clamp(C + T * u_bg, 0.0, 1.0), 1.0));
}
