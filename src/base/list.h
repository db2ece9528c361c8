/* Intrusive doubly linked lists: a node is any struct with `prev` and
 * `next` pointers to its own type, the list a pointer to its first node
 * (NULL when empty; the last node's next and the first's prev are NULL).
 * The one way to push and unlink, for the lists of connections, pooled
 * backend connections and CRL fetch sockets. Header-only macros (the
 * nodes' types differ). (Future wing: src/base/.)
 */
#ifndef CG_LIST_H
#define CG_LIST_H

#include <stddef.h>

/* Puts node first in the list headed by head (an lvalue). */
#define CG_LIST_PUSH(head, node)                                                                                 \
    do {                                                                                                          \
        (node)->prev = NULL;                                                                                      \
        (node)->next = (head);                                                                                    \
        if (head)                                                                                                 \
            (head)->prev = (node);                                                                                \
        (head) = (node);                                                                                          \
    } while (0)

/* Takes node out of the list headed by head; its own links are cleared. */
#define CG_LIST_UNLINK(head, node)                                                                               \
    do {                                                                                                          \
        if ((node)->prev)                                                                                         \
            (node)->prev->next = (node)->next;                                                                    \
        else                                                                                                      \
            (head) = (node)->next;                                                                                \
        if ((node)->next)                                                                                         \
            (node)->next->prev = (node)->prev;                                                                    \
        (node)->next = (node)->prev = NULL;                                                                       \
    } while (0)

#endif
