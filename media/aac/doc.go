// Package aac holds pure helpers for MPEG-4 AAC: the AudioSpecificConfig of
// ISO/IEC 14496-3 §1.6.2.1, which FLV's AAC sequence header and MP4's esds carry.
package aac
