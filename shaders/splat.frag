// 3DGS image formation per fragment: alpha = min(0.99, o exp(power)), skipped under 1/255;
// premultiplied "over" blending back to front.
in vec2 v_d;
flat in vec3 v_conic;
flat in vec4 v_color;
out vec4 frag;
void main() {
    float power = -0.5 * (v_conic.x * v_d.x * v_d.x + v_conic.z * v_d.y * v_d.y) - v_conic.y * v_d.x * v_d.y;
    if (power > 0.0) discard;
    float alpha = min(0.99, v_color.a * exp(power));
    if (alpha < 1.0 / 255.0) discard;
    frag = vec4(v_color.rgb * alpha, alpha);
}
