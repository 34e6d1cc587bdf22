/** domain/ is the framework-free core: no React, no zustand, no DOM-bound code. */

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const DIR = join(__dirname);

describe("domain purity", () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
  it.each(files)("%s imports no framework", (file) => {
    const text = readFileSync(join(DIR, file), "utf8");
    const imports = [...text.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
    for (const spec of imports) expect(spec).toMatch(/^(\.\/|@dagrejs\/dagre$)/);
  });
});
