// A short Golemflow animation: a sphere circles a turning box over a checkered floor.
// `clock` runs from 0 (first frame) to 1 (last frame); the render runtime sets it per frame.
#version 3.7;
#include "colors.inc"
#include "textures.inc"
#include "materials.inc"   // this scene's own include: uploaded with it (job.yaml)
global_settings { assumed_gamma 1.0 }
camera { location <0, 2.2, -6.5> look_at <0, 0.7, 0> }
light_source { <4, 7, -5> color White }
light_source { <-5, 4, -3> color rgb 0.3 shadowless }
sky_sphere { pigment { gradient y color_map { [0 color rgb <0.75, 0.85, 1>] [1 color rgb <0.2, 0.35, 0.7>] } } }
plane { y, 0 pigment { checker color rgb <0.92, 0.92, 0.92> color rgb <0.2, 0.3, 0.5> } finish { reflection 0.08 } }
sphere {
  <2.2 * sin(clock * 2 * pi), 1 + 0.4 * abs(sin(clock * 4 * pi)), 2.2 * cos(clock * 2 * pi)>, 0.7
  material { Ball }
}
box { <-0.6, 0, -0.6>, <0.6, 1.3, 0.6> rotate y * clock * 360 material { Block } }
cylinder { <0, 0, 0>, <0, 0.05, 0>, 3 pigment { color rgbt <1, 1, 1, 0.7> } }
