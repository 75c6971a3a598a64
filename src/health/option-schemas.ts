/** Option schemas and helpers several checkers share; exported from 'vigil' for plugin authors too. */
import { z } from 'zod';

function compiles(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** The source of a regular expression, refused at validation time when it does not compile. */
export const regexSource = () => z.string().min(1).max(1024).refine(compiles, { error: 'not a valid regular expression' });

export type TextMatcher = (text: string) => boolean;

/** The test a `contains` substring or a `regex` source option describes; undefined when neither is set. */
export function textMatcher(contains: string | undefined, regex: string | undefined): TextMatcher | undefined {
  if (contains !== undefined) return (text) => text.includes(contains);
  if (regex !== undefined) {
    const re = new RegExp(regex);
    return (text) => re.test(text);
  }
  return undefined;
}
