// Drop the CSS rules no page can match, with PurgeCSS (pinned in package.json).
// Called by page_speed.py: reads {content, css, safelist} as JSON on stdin and
// writes [{file, css}] as JSON on stdout.
import { PurgeCSS } from "purgecss";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { content, css, safelist } = JSON.parse(input);

const results = await new PurgeCSS().purge({
  content,
  css,
  // @font-face and custom properties stay: they are cheap and referenced
  // indirectly (by font-family names and var() chains PurgeCSS cannot follow).
  fontFace: false,
  variables: false,
  keyframes: true,
  safelist: { greedy: safelist.map((pattern) => new RegExp(pattern)) },
});
process.stdout.write(JSON.stringify(results.map(({ file, css }) => ({ file, css }))));
