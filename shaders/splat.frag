// 3DGS image formation per fragment: alpha = min(0.99, o exp(-d^T conic d / 2)) with d^T conic d = |v_c|^2
// (see splat.vert), skipped under 1/255; premultiplied "over" blending back to front.
in vec2 v_c;
flat in vec4 v_color;
out vec4 frag;
void main() {
    float alpha = min(0.99, v_color.a * exp2(-0.7213475204444817 * dot(v_c, v_c))); // exp(-x/2) = 2^(-x log2(e)/2)
    if (alpha < 1.0 / 255.0) discard;
    frag = vec4(v_color.rgb * alpha, alpha);
}
