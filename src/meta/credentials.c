/*
 * credentials.c - Unix permission checks as a local file system makes them.
 */
#include <sys/stat.h>

#include "chainfs/error.h"
#include "meta/credentials.h"

bool credentials_in_group(const struct meta_credentials *credentials, uint32_t gid)
{
    if (credentials->gid == gid)
        return true;
    for (uint32_t i = 0; i < credentials->group_count && i < META_GROUPS_MAX; i++)
        if (credentials->groups[i] == gid)
            return true;
    return false;
}

int credentials_check_access(const struct meta_credentials *credentials, const struct inode *inode,
                             unsigned mask)
{
    if (credentials->uid == 0) {
        /* root may do anything, but execute a file only if someone may */
        bool executable = inode->type == INODE_DIRECTORY || (inode->mode & 0111) != 0;
        return (mask & META_ACCESS_EXECUTE) && !executable ? CHAINFS_PERMISSION_DENIED : 0;
    }
    unsigned granted;
    if (credentials->uid == inode->uid)
        granted = (inode->mode >> 6) & 7;
    else if (credentials_in_group(credentials, inode->gid))
        granted = (inode->mode >> 3) & 7;
    else
        granted = inode->mode & 7;
    return (granted & mask) == mask ? 0 : CHAINFS_PERMISSION_DENIED;
}

int credentials_check_sticky(const struct meta_credentials *credentials,
                             const struct inode *directory, const struct inode *entry)
{
    if (!(directory->mode & S_ISVTX) || credentials->uid == 0 ||
        credentials->uid == directory->uid || credentials->uid == entry->uid)
        return 0;
    return CHAINFS_NOT_PERMITTED;
}
