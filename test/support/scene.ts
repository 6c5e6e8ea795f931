/**
 * A small POV-Ray animation (a sphere circling a turning box) for render tests. It includes a
 * file of its own (`materials.inc`) and maps a PNG texture (`stripes.png`) on the box, so the
 * tests also show that a scene's includes and textures travel with it as blobs.
 */
import { PNG } from 'pngjs';

export const SCENE = `#version 3.7;
#include "colors.inc"
#include "materials.inc"
global_settings { assumed_gamma 1.0 }
camera { location <0, 2, -6> look_at <0, 0.5, 0> }
light_source { <4, 6, -4> color White }
plane { y, 0 pigment { checker color rgb <0.9, 0.9, 0.9> color rgb <0.2, 0.3, 0.5> } }
sphere { <2 * sin(clock * 2 * pi), 1, 2 * cos(clock * 2 * pi)>, 0.8 material { Shiny_red } }
box { <-0.5, 0, -0.5>, <0.5, 1.2, 0.5> pigment { image_map { png "stripes.png" } translate <-0.5, 0, 0> scale 1.2 } rotate y * clock * 360 }
`;

export const MATERIALS = `// Materials the scene includes: uploaded next to it.
#declare Shiny_red = material { texture { pigment { color rgb <0.9, 0.3, 0.2> } finish { phong 0.8 reflection 0.2 } } }
`;

/** 16×16 diagonal stripes, green on cream. */
function stripes(): Buffer {
  const png = new PNG({ width: 16, height: 16 });
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++) {
      const i = (y * 16 + x) * 4;
      const on = ((x + y) >> 2) % 2 === 0;
      png.data.set(on ? [40, 180, 80, 255] : [240, 230, 200, 255], i);
    }
  return PNG.sync.write(png);
}

/** Every file of the scene, by name, as a subtask sees them under /in. */
export const SCENE_FILES: Record<string, string | Buffer> = { 'scene.pov': SCENE, 'materials.inc': MATERIALS, 'stripes.png': stripes() };
