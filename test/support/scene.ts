/** A small POV-Ray animation (a sphere circling a turning box) for render tests and the demo. */
export const SCENE = `#version 3.7;
#include "colors.inc"
global_settings { assumed_gamma 1.0 }
camera { location <0, 2, -6> look_at <0, 0.5, 0> }
light_source { <4, 6, -4> color White }
plane { y, 0 pigment { checker color rgb <0.9, 0.9, 0.9> color rgb <0.2, 0.3, 0.5> } }
sphere { <2 * sin(clock * 2 * pi), 1, 2 * cos(clock * 2 * pi)>, 0.8 pigment { color rgb <0.9, 0.3, 0.2> } finish { phong 0.8 reflection 0.2 } }
box { <-0.5, 0, -0.5>, <0.5, 1.2, 0.5> rotate y * clock * 360 pigment { color rgb <0.2, 0.8, 0.3> } }
`;
