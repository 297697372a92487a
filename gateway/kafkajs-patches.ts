/**
 * Every change this project makes to kafkajs 2.2.4, in the order they must be installed. Each one
 * replaces a kafkajs module in Node's module cache, so it works only if it runs before kafkajs is
 * first loaded in the process (or worker thread): a module that imports values from 'kafkajs'
 * imports this module first.
 */
import './kafkajs-grouping.js';
import './kafkajs-record-decoder.js';
import './kafkajs-record-encoder.js';
import './kafkajs-crc32c.js';
import './kafkajs-lz4.js';
