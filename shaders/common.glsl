// Shared declarations of the splat shaders (prepended to each compute shader by the host).
#define WG 256
layout(std430, binding = 0) readonly buffer Splats { uvec4 splats[]; };    // 3 per splat
layout(std430, binding = 1) readonly buffer DcTable { uvec2 dc_table[]; }; // half RGB(+pad)
layout(std430, binding = 2) readonly buffer ShTable { uint sh_table[]; };  // halfs, 2 per uint
layout(std430, binding = 3) buffer Projected { vec4 projected[]; };        // 4 per visible splat
layout(std430, binding = 4) buffer Counter { uint visible; uint pad0; uint pad1; uint pad2; uint dispatch[4]; uint draw[4]; };
layout(std430, binding = 5) buffer KeysA { uint keys_a[]; };
layout(std430, binding = 6) buffer ValsA { uint vals_a[]; };
