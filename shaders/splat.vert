// One instanced quad per visible splat, back to front; the quad spans the ellipse where alpha >= 1/255.
layout(std430, binding = 3) readonly buffer Projected { vec4 projected[]; };
layout(std430, binding = 4) readonly buffer Counter { uint visible; };
layout(std430, binding = 6) readonly buffer ValsA { uint vals_a[]; };
uniform vec2 u_size;
out vec2 v_d;
flat out vec3 v_conic;
flat out vec4 v_color;
void main() {
    uint idx = vals_a[visible - 1u - uint(gl_InstanceID)];
    vec4 p0 = projected[4u * idx], p1 = projected[4u * idx + 1u], p2 = projected[4u * idx + 2u], p3 = projected[4u * idx + 3u];
    vec2 corner = vec2(float(gl_VertexID & 1) * 2.0 - 1.0, float(gl_VertexID >> 1) * 2.0 - 1.0);
    vec2 off = corner.x * p3.xy + corner.y * p3.zw;
    vec2 px = p0.xy + off; // image pixels, y down
    gl_Position = vec4(px.x / u_size.x * 2.0 - 1.0, 1.0 - px.y / u_size.y * 2.0, 0.0, 1.0);
    v_d = off;
    v_conic = p1.xyz;
    v_color = vec4(p2.rgb, p0.w);
}
