/** Option schemas several checkers share; exported from 'vigil' for plugin authors too. */
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
export const regexSource = () => z.string().min(1).refine(compiles, { error: 'not a valid regular expression' });
