// Per splat: cull, EWA projection with the 1.3 frustum clamp and 0.3 px dilation (3DGS forward pass),
// conic, tight quad axes (where alpha can reach 1/255), SH colour; appends visible splats and their
// depth keys for the sort.
layout(local_size_x = WG) in;
uniform uint u_count;
uniform mat3 u_R;        // world -> camera rotation
uniform vec3 u_t;
uniform vec3 u_campos;
uniform vec4 u_intr;     // fx, fy, cx, cy
uniform vec2 u_size;     // width, height
uniform int u_max_degree;
uniform int u_tiles;          // count the tile pairs (compute rasteriser)
uniform ivec4 u_sh_offset; // start (in halfs) of the degree 1..3 tables

float sh_half(uint h) {
    uint w = sh_table[h >> 1];
    return unpackHalf2x16((h & 1u) != 0u ? (w >> 16) : (w & 0xFFFFu)).x;
}

void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i >= u_count) return;
    uvec4 a = splats[3 * i], b = splats[3 * i + 1], c = splats[3 * i + 2];
    vec3 p = uintBitsToFloat(a.xyz);
    vec3 t = u_R * p + u_t;
    if (t.z <= 0.2) return;
    vec2 s01 = unpackHalf2x16(b.x), s2o = unpackHalf2x16(b.y);
    vec2 qwx = unpackHalf2x16(b.z), qyz = unpackHalf2x16(b.w);
    float opacity = s2o.y;
    if (opacity < 1.0 / 255.0) return;
    vec4 q = normalize(vec4(qwx, qyz)); // w x y z
    float w = q.x, x = q.y, y = q.z, z = q.w;
    mat3 Rq = mat3(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y),
                   2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x),
                   2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)); // columns
    vec3 sc = exp(vec3(s01, s2o.x));
    mat3 M = Rq * mat3(sc.x, 0, 0, 0, sc.y, 0, 0, 0, sc.z);
    mat3 Sigma = M * transpose(M);
    vec2 tanfov = u_size / (2.0 * u_intr.xy);
    vec2 lim = 1.3 * tanfov;
    vec2 txy = clamp(t.xy / t.z, -lim, lim) * t.z;
    mat3 J = mat3(u_intr.x / t.z, 0.0, 0.0,
                  0.0, u_intr.y / t.z, 0.0,
                  -(u_intr.x * txy.x) / (t.z * t.z), -(u_intr.y * txy.y) / (t.z * t.z), 0.0);
    mat3 T = J * u_R;
    mat3 cov = T * Sigma * transpose(T);
    float ca = cov[0][0] + 0.3, cb = cov[0][1], cc = cov[1][1] + 0.3;
    float det = ca * cc - cb * cb;
    if (!(det > 0.0)) return; // also NaN: a covariance past float range, as the CPU reference drops it
    vec3 conic = vec3(cc, -cb, ca) / det;
    float mid = 0.5 * (ca + cc);
    // Exact eigenvalues (the quad must not clip), computed so that a long thin splat keeps its shape:
    // sqrt(mid^2 - det) as the length of ((ca - cc) / 2, cb), scaled (mid^2 overflows floats past
    // 1.8e19 px^2); the minor eigenvalue as det / l1 (mid - disc cancels once a float ulp of l1 exceeds
    // it); the major axis from the larger of its two eigenvector forms, scaled before normalising.
    vec2 hd = vec2(0.5 * (ca - cc), cb);
    float hs = max(abs(hd.x), abs(hd.y));
    float disc = hs > 0.0 ? hs * length(hd / hs) : 0.0;
    float l1 = mid + disc, l2 = max(det / l1, 1e-6);
    // alpha >= 1/255 needs d^T conic d <= 2 ln(255 o): the quad covers exactly that ellipse
    float k = sqrt(max(0.0, 2.0 * log(255.0 * opacity)));
    vec2 e1 = ca >= cc ? vec2(l1 - cc, cb) : vec2(cb, l1 - ca);
    float es = max(abs(e1.x), abs(e1.y));
    e1 = es > 0.0 ? normalize(e1 / es) : vec2(1, 0); // a circle: any axis
    vec2 e2 = vec2(-e1.y, e1.x);
    // the raster quad: the reference bins a splat to the tiles within 3 sqrt(lambda_max) of its centre, so
    // along the major axis nothing beyond 3 sigma needs fragments (alpha there is at most 0.011)
    vec2 ax1 = e1 * (min(k, 3.0) * sqrt(l1)), ax2 = e2 * (k * sqrt(l2));
    vec2 center = vec2(u_intr.x * t.x / t.z + u_intr.z, u_intr.y * t.y / t.z + u_intr.w);
    // 16x16 tiles touched, exactly as the reference: radius ceil(3 sqrt(lambda_max)), with the 0.1 floor
    float radius = ceil(3.0 * sqrt(mid + sqrt(max(0.1, mid * mid - det))));
    vec2 pc = center - 0.5; // the reference's pixel convention: pixel centres at integers
    ivec2 grid = (ivec2(u_size) + 15) / 16;
    // clamped before the conversion: a splat far larger than the view has tile coordinates out of int
    // range, whose conversion is undefined (llvmpipe gives INT_MIN, which dropped such splats)
    ivec2 rmin = ivec2(clamp((pc - radius) / 16.0, vec2(0.0), vec2(grid)));
    ivec2 rmax = ivec2(clamp((pc + radius + 15.0) / 16.0, vec2(0.0), vec2(grid)));
    // Tighter, still exact: a pixel gets alpha >= 1/255 only inside the ellipse d^T conic d <= k^2, whose
    // bounding box has half-widths k sqrt(cov_xx), k sqrt(cov_yy); tiles outside it cannot change.
    vec2 ext = k * sqrt(vec2(ca, cc));
    vec2 lo = max(pc - ext, vec2(0.0)), hi = min(pc + ext, u_size - 1.0);
    if (any(greaterThan(lo, hi))) return;
    // the image is sampled at pixel centres (integers here): a box holding none cannot change it
    if (any(greaterThan(ceil(lo), floor(hi)))) return;
    rmin = max(rmin, ivec2(floor(lo / 16.0)));
    rmax = min(rmax, ivec2(floor(hi / 16.0)) + 1);
    if (rmax.x <= rmin.x || rmax.y <= rmin.y) return;
    // colour: SH up to the splat's degree (and the viewer's cap)
    vec3 d = normalize(p - u_campos);
    uvec2 dcw = dc_table[c.x];
    vec3 rgb = 0.28209479177387814 * vec3(unpackHalf2x16(dcw.x), unpackHalf2x16(dcw.y).x);
    int deg = min(int(a.w & 3u), u_max_degree);
    if (deg > 0) {
        int stored = int(a.w & 3u);
        uint base = uint(u_sh_offset[stored - 1]) + c.y * uint(3 * ((stored + 1) * (stored + 1) - 1));
        float bx = d.x, by = d.y, bz = d.z;
        float basis[15];
        basis[0] = -0.4886025119029199 * by; basis[1] = 0.4886025119029199 * bz; basis[2] = -0.4886025119029199 * bx;
        int n = 3;
        if (deg > 1) {
            float xx = bx * bx, yy = by * by, zz = bz * bz;
            basis[3] = 1.0925484305920792 * bx * by; basis[4] = -1.0925484305920792 * by * bz;
            basis[5] = 0.31539156525252005 * (2.0 * zz - xx - yy); basis[6] = -1.0925484305920792 * bx * bz;
            basis[7] = 0.5462742152960396 * (xx - yy);
            n = 8;
            if (deg > 2) {
                basis[8] = -0.5900435899266435 * by * (3.0 * xx - yy); basis[9] = 2.890611442640554 * bx * by * bz;
                basis[10] = -0.4570457994644658 * by * (4.0 * zz - xx - yy);
                basis[11] = 0.3731763325901154 * bz * (2.0 * zz - 3.0 * xx - 3.0 * yy);
                basis[12] = -0.4570457994644658 * bx * (4.0 * zz - xx - yy); basis[13] = 1.445305721320277 * bz * (xx - yy);
                basis[14] = -0.5900435899266435 * bx * (xx - 3.0 * yy);
                n = 15;
            }
        }
        for (int j = 0; j < n; j++)
            rgb += basis[j] * vec3(sh_half(base + uint(3 * j)), sh_half(base + uint(3 * j + 1)), sh_half(base + uint(3 * j + 2)));
    }
    rgb = max(rgb + 0.5, vec3(0.0));
    uint slot = atomicAdd(visible, 1u);
    projected[4 * slot] = vec4(center, k, opacity);
    projected[4 * slot + 1] = vec4(conic, uintBitsToFloat(uint(rmin.x) | uint(rmin.y) << 16));
    projected[4 * slot + 2] = vec4(rgb, uintBitsToFloat(uint(rmax.x) | uint(rmax.y) << 16));
    projected[4 * slot + 3] = vec4(ax1, ax2);
    uint tiles = 0u;
    for (int ty = rmin.y; ty < rmax.y && u_tiles != 0; ty++) { // only the compute rasteriser bins
        ivec2 span = tile_row_span(pc, conic, opacity, ty, rmin.x, rmax.x);
        tiles += uint(max(span.y - span.x, 0));
    }
    tile_count[slot] = tiles;
    keys_a[slot] = floatBitsToUint(t.z); // positive floats sort as unsigned integers
    vals_a[slot] = slot;
}
