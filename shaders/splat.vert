// One instanced quad per visible splat, back to front. The quad's axes are the ellipse's eigenvectors
// scaled by k sqrt(lambda) with k^2 = 2 ln(255 o) (alpha = 1/255 there; the major axis capped at 3 sigma,
// see preprocess.comp), so at corner coordinates c, d^T conic d = |c * (k_major, k)|^2: the fragment
// needs no conic.
layout(std430, binding = 3) readonly buffer Projected { vec4 projected[]; };
layout(std430, binding = 4) readonly buffer Counter { uint visible; };
layout(std430, binding = 6) readonly buffer ValsA { uint vals_a[]; };
uniform vec2 u_size;
out vec2 v_c;
flat out vec4 v_color; // rgb, opacity
void main() {
    uint idx = vals_a[visible - 1u - uint(gl_InstanceID)];
    vec4 p0 = projected[4u * idx], p2 = projected[4u * idx + 2u], p3 = projected[4u * idx + 3u];
    vec2 corner = vec2(float(gl_VertexID & 1) * 2.0 - 1.0, float(gl_VertexID >> 1) * 2.0 - 1.0);
    // The major axis cut to the stretch u in [-1, 1] whose quad can touch the image (its slab per image
    // axis, widened by the minor half-axis): a splat far larger than the view otherwise gives vertices
    // out where the clipper's float arithmetic misplaces the edges.
    vec2 lo = vec2(-1.0), hi = u_size + 1.0, m = abs(p3.zw);
    float u0 = -1.0, u1 = 1.0;
    for (int a = 0; a < 2; a++) {
        float d = p3[a], c = p0[a];
        if (abs(d) > 1e-6) {
            float ua = (lo[a] - m[a] - c) / d, ub = (hi[a] + m[a] - c) / d;
            u0 = max(u0, min(ua, ub));
            u1 = min(u1, max(ua, ub));
        } else if (c + m[a] < lo[a] || c - m[a] > hi[a]) {
            u1 = u0; // misses the image: an empty quad
        }
    }
    u1 = max(u1, u0);
    float u = corner.x < 0.0 ? u0 : u1;
    vec2 px = p0.xy + u * p3.xy + corner.y * p3.zw; // image pixels, y down
    gl_Position = vec4(px.x / u_size.x * 2.0 - 1.0, 1.0 - px.y / u_size.y * 2.0, 0.0, 1.0);
    v_c = vec2(u, corner.y) * vec2(min(p0.z, 3.0), p0.z); // p0.z = k, from the preprocess
    v_color = vec4(p2.rgb, p0.w);
}
